"""LightGBM classifiers: early-stopped on held-out customers, or refitted with the number of trees found."""

from __future__ import annotations

import lightgbm as lgb
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from segment.config import LightGBMConfig
from segment.models.threads import lightgbm_n_jobs

CATEGORICAL = ("country",)
# Purchase probability never rises with days since the last purchase, all else equal: a fitted booster
# that said otherwise somewhere (noise in a thin leaf) would rank a lapsed customer above an identical
# recent one, and churn risk would fall as a customer stays away.
MONOTONE = {"recency_days": -1}


def _constraints(columns) -> list[int]:
    return [MONOTONE.get(c, 0) for c in columns]


def _preprocessor(columns: list[str]) -> ColumnTransformer:
    cats = [c for c in columns if c in CATEGORICAL]
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    return ColumnTransformer([("cat", enc, cats)], remainder="passthrough", verbose_feature_names_out=False).set_output(
        transform="pandas"
    )


def booster_params(cfg: LightGBMConfig) -> dict:
    """LightGBM's settings from the config, shared by every booster the project fits (classifier or regressor).

    Deterministic and row-wise, so a re-run gives the same trees; `n_jobs` from the usable cores, with the
    passive wait policy the CLI sets (models/threads.py: spinning threads made fits 10x slower under load).
    """
    return {
        "n_estimators": cfg.n_estimators,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples,
        "subsample": cfg.subsample,
        "subsample_freq": cfg.subsample_freq,
        "colsample_bytree": cfg.colsample_bytree,
        "reg_lambda": cfg.reg_lambda,
        "random_state": cfg.random_state,
        "n_jobs": lightgbm_n_jobs(),
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def _booster(cfg: LightGBMConfig) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(**booster_params(cfg))


def fit_classifier(
    X_train: pd.DataFrame, y_train: pd.Series, X_val: pd.DataFrame, y_val: pd.Series, cfg: LightGBMConfig
) -> Pipeline:
    """Fit preprocessing + booster; the validation snapshot only picks the number of trees."""
    pre = _preprocessor(list(X_train.columns)).fit(X_train)
    Xt = pre.transform(X_train)
    booster = _booster(cfg).set_params(monotone_constraints=_constraints(Xt.columns))
    booster.fit(
        Xt,
        y_train,
        eval_X=(pre.transform(X_val),),
        eval_y=(y_val,),
        eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    return Pipeline([("pre", pre), ("model", booster)])


def predict_positive(model: Pipeline, X: pd.DataFrame) -> pd.Series:
    """Probability of the positive class."""
    return pd.Series(model.predict_proba(X)[:, 1], index=X.index)


def fit_fixed(X: pd.DataFrame, y: pd.Series, cfg: LightGBMConfig, n_trees: int) -> Pipeline:
    """Refit preprocessing + booster on all rows with a fixed number of trees (the evaluated one), no holdout."""
    pre = _preprocessor(list(X.columns)).fit(X)
    Xt = pre.transform(X)
    booster = _booster(cfg.model_copy(update={"n_estimators": max(1, int(n_trees))}))
    booster.set_params(monotone_constraints=_constraints(Xt.columns)).fit(Xt, y)
    return Pipeline([("pre", pre), ("model", booster)])
