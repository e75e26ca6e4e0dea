"""The value model: a customer's net revenue in the next H days, with LightGBM, against its baselines.

Two designs, both fitted on the same stacked training snapshots (docs/models.md says which is kept and
why): `tweedie`, one booster with a Tweedie loss (a point mass at 0 plus a heavy right tail is what the
Tweedie family with 1 < power < 2 describes), and `hurdle`, P(buy) from a classifier times E[spend | buy]
from a gamma-loss booster on the buyers. The label is the net revenue of (t, t + H] floored at 0
(`features/value_labels.py`). The tuning customers (the classifiers' fixed fifth) early-stop the boosters;
the validation snapshot is scored once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from segment.config import LightGBMConfig, ValueConfig
from segment.features.customer import model_feature_columns
from segment.features.snapshots import SnapshotPlan
from segment.models.btyd import BtydParams
from segment.models.classifiers import CATEGORICAL, booster_params, fit_classifier, predict_positive
from segment.models.sampling import sample_customers
from segment.models.splits import split_tuning
from segment.models.value_baselines import BtydFit, last_h_days
from segment.models.value_metrics import value_metrics
from segment.schema import LABEL_COLUMNS, PAST_VALUE, VALUE_LABEL, VALUE_LABEL_COLUMNS

TIERS = ("low", "medium", "high")


def value_feature_columns(snapshots: pd.DataFrame) -> list[str]:
    """The customer features: every column but the keys and any label."""
    labels = {*LABEL_COLUMNS, *VALUE_LABEL_COLUMNS}
    return [c for c in model_feature_columns(snapshots) if c not in labels]


def _preprocessor(columns: list[str]) -> ColumnTransformer:
    cats = [c for c in columns if c in CATEGORICAL]
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    return ColumnTransformer([("cat", enc, cats)], remainder="passthrough", verbose_feature_names_out=False).set_output(
        transform="pandas"
    )


def fit_regressor(
    X_fit: pd.DataFrame, y_fit: np.ndarray, X_tune: pd.DataFrame, y_tune: np.ndarray, cfg: LightGBMConfig, **objective
) -> Pipeline:
    """Preprocessing + LGBMRegressor with `objective` (e.g. objective="tweedie"), early-stopped on the tuning rows."""
    pre = _preprocessor(list(X_fit.columns)).fit(X_fit)
    booster = lgb.LGBMRegressor(**booster_params(cfg), **objective)
    booster.fit(
        pre.transform(X_fit),
        y_fit,
        eval_X=(pre.transform(X_tune),),
        eval_y=(y_tune,),
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    return Pipeline([("pre", pre), ("model", booster)])


class ValueModel(RegressorMixin, BaseEstimator):
    """Expected net revenue in the next H days: one Tweedie booster, or P(buy) x E[spend | buy]."""

    def __init__(
        self, kind: str = "tweedie", horizon_days: int = 90, parts: dict | None = None, features: list | None = None
    ) -> None:
        self.kind = kind
        self.horizon_days = horizon_days
        self.parts = parts
        self.features = features  # the input columns: a wider feature table is cut to them

    def fit(self, X, y):  # noqa: D102 - fitted by `fit_value_model`; here only for the estimator protocol
        raise NotImplementedError("use segment.models.value.fit_value_model")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected net revenue per row of X."""
        X = X[self.features] if self.features is not None else X
        if self.kind == "tweedie":
            return self.parts["tweedie"].predict(X)
        p_buy = predict_positive(self.parts["buy"], X).to_numpy()
        return p_buy * self.parts["spend"].predict(X)


def fit_value_model(
    fit_rows: pd.DataFrame,
    tune_rows: pd.DataFrame,
    features: list[str],
    kind: str,
    horizon_days: int,
    cfg: ValueConfig,
    lgbm: LightGBMConfig,
) -> ValueModel:
    """Fit one design on `fit_rows`, early-stopping every booster on `tune_rows`."""
    Xf, Xt = fit_rows[features], tune_rows[features]
    yf, yt = fit_rows[VALUE_LABEL].to_numpy(float), tune_rows[VALUE_LABEL].to_numpy(float)
    if kind == "tweedie":
        power = cfg.tweedie_variance_power
        parts = {"tweedie": fit_regressor(Xf, yf, Xt, yt, lgbm, objective="tweedie", tweedie_variance_power=power)}
    else:
        buy = fit_classifier(Xf, pd.Series(yf > 0, dtype=int), Xt, pd.Series(yt > 0, dtype=int), lgbm)
        bf, bt = yf > 0, yt > 0
        spend = fit_regressor(Xf[bf], yf[bf], Xt[bt], yt[bt], lgbm, objective="gamma")
        parts = {"buy": buy, "spend": spend}
    return ValueModel(kind=kind, horizon_days=horizon_days, parts=parts, features=list(features))


@dataclass
class ValueResult:
    """A fitted value model with its validation predictions and metrics for it and every baseline."""

    horizon_days: int
    kind: str
    model: ValueModel
    features: list[str]
    customer_id: np.ndarray  # the validation rows' customers, in the order of y_val and scores
    y_val: np.ndarray
    scores: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    X_example: pd.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    X_val: pd.DataFrame | None = None  # to re-score the current champion on the same rows


def train_validation_rows(snapshots: pd.DataFrame, plan: SnapshotPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every customer with a purchase by the cutoff, at the training and at the validation cutoffs."""
    return snapshots[snapshots["cutoff"].isin(plan.train)], snapshots[snapshots["cutoff"].isin(plan.validation)]


def fit_value(
    snapshots: pd.DataFrame,
    plan: SnapshotPlan,
    cfg: ValueConfig,
    lgbm: LightGBMConfig,
    *,
    summary: pd.DataFrame | None = None,
    compare: bool = False,
    btyd: BtydParams | None = None,
    max_rows: int | None = None,
    seed: int = 0,
    rows_available: int | None = None,
    validation_rows_available: int | None = None,
) -> ValueResult:
    """Fit `cfg.model` for the plan's horizon on the training cutoffs; score it and the baselines on validation.

    `snapshots` carry the value labels for `plan.horizon_days` (`features.value_labels.value_snapshots`).
    `summary` is the purchase-day summary at the validation cutoff (`value_baselines.purchase_day_summary`):
    with it the BG/NBD x Gamma-Gamma baseline runs (ours, `BtydFit`). `compare` also fits the other
    design and scores it as a row of its own (the benchmark's evidence for the choice). `btyd`: BG/NBD and
    Gamma-Gamma already fitted on `summary` (the BTYD inputs' fit at the validation cutoff), not refitted.
    `max_rows`: the training rows are cut to a seeded sample of whole customers above it
    (`models.max_training_rows`, as for the classifiers); validation rows are the snapshot step's (cut there
    by `models.max_validation_rows`).
    `rows_available`: the training rows before a cap applied upstream (the snapshot step's), for the card;
    `validation_rows_available`: the same for the validation rows (`models.max_validation_rows`).
    """
    h = plan.horizon_days
    train, val = train_validation_rows(snapshots, plan)
    available = rows_available or len(train)
    train = sample_customers(train, max_rows, seed)
    features = value_feature_columns(snapshots)
    fit_rows, tune_rows = split_tuning(train)
    if not (fit_rows[VALUE_LABEL] > 0).any() or not (tune_rows[VALUE_LABEL] > 0).any():
        raise ValueError(f"value {h}d: no customer with revenue in the training or tuning rows")
    model = fit_value_model(fit_rows, tune_rows, features, cfg.model, h, cfg, lgbm)
    scores = {"model": model.predict(val[features]), "last_h_days": last_h_days(val[PAST_VALUE])}
    if compare:
        other = "hurdle" if cfg.model == "tweedie" else "tweedie"
        scores[other] = fit_value_model(fit_rows, tune_rows, features, other, h, cfg, lgbm).predict(val[features])
    notes = {}
    if summary is None:
        notes["bgnbd_gamma_gamma"] = "no purchase-day summary given: BG/NBD x Gamma-Gamma baseline skipped"
    else:
        fitted = BtydFit(summary, btyd)
        at = summary.set_index("customer_id").loc[val["customer_id"]].reset_index()
        scores["bgnbd_gamma_gamma"] = fitted.expected_revenue(at, h)
    y = val[VALUE_LABEL].to_numpy(float)
    negative = float((val["value_net"] < 0).mean()) if "value_net" in val else float("nan")
    return ValueResult(
        horizon_days=h,
        kind=cfg.model,
        model=model,
        features=features,
        customer_id=val["customer_id"].to_numpy(),
        y_val=y,
        scores=scores,
        metrics={name: value_metrics(y, p) for name, p in scores.items()},
        X_example=train[features].head(200),
        rows={
            "train_rows": len(fit_rows),
            "tuning_rows": len(tune_rows),
            "training_rows_available": available,
            "training_rows_sampled": len(train),
            "validation_rows": len(val),
            "validation_rows_available": validation_rows_available or len(val),
            "validation_negative_windows_per_mille": round(1000 * negative, 2),
        },
        notes=notes,
        X_val=val[features],
    )


def value_tiers(expected: np.ndarray | pd.Series, percentiles: tuple[float, float]) -> np.ndarray:
    """Low / medium / high by percentiles of the predicted value among the customers scored together.

    Shopify's spend tier, on our prediction: below the first percentile low, from it to the second
    medium, above high. Ties at a cut go to the higher tier.
    """
    v = np.asarray(expected, dtype=float)
    lo, hi = np.quantile(v, percentiles)
    return np.array(TIERS, dtype=object)[(v >= lo).astype(int) + (v >= hi).astype(int)]
