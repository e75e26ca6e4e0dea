"""Fit one target (churn or propensity) on stacked snapshots and evaluate it against baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from segment.config import LightGBMConfig, SearchConfig
from segment.features.customer import model_feature_columns
from segment.features.snapshots import SnapshotPlan
from segment.models import bgnbd as bgnbd_model
from segment.models.calibration import calibrate
from segment.models.classifiers import fit_classifier, predict_positive
from segment.models.evaluation import binary_metrics, fit_rfm_logistic, recency_baseline, shap_importance
from segment.models.search import Trial, search

Target = Literal["churn", "propensity"]
LABEL = {"churn": "churn_label", "propensity": "purchase_label"}
LABEL_COLUMNS = ("purchase_label", "churn_label")


@dataclass
class TargetResult:
    """A fitted model with its validation predictions and metrics for it and every baseline."""

    target: Target
    model: Pipeline
    features: list[str]
    y_val: np.ndarray
    scores: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    X_example: pd.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    calibration: dict[str, float | str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    X_val: pd.DataFrame | None = None  # the validation rows, to re-score the current champion on
    booster: Pipeline | None = None  # the uncalibrated preprocessing + LightGBM, for SHAP values
    importance: pd.Series | None = None  # mean |SHAP| per feature on the validation rows
    params: LightGBMConfig | None = None  # the hyperparameters the model was fitted with
    trials: list[Trial] = field(default_factory=list)  # the search's trials, when one ran


def train_validation_rows(
    snapshots: pd.DataFrame, plan: SnapshotPlan, target: Target
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The target's population (churn: active customers only) at the training and at the validation cutoffs."""
    rows = snapshots[snapshots[LABEL[target]].notna()]
    return rows[rows["cutoff"].isin(plan.train)], rows[rows["cutoff"].isin(plan.validation)]


def split_tuning(train: pd.DataFrame, share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fixed fifth of the customers, across every training cutoff, tunes (early stopping, calibration).

    Split by customer, never by row: consecutive snapshots of one customer share most of their label
    window, so a booster that saw a customer's earlier snapshots has as good as seen the label of a
    later one, and a tuning set made of them would stop late and calibrate over-confidently. The
    validation snapshot is never seen before it is scored.
    """
    bucket = pd.util.hash_pandas_object(train["customer_id"], index=False).to_numpy() % 1000
    held = bucket < int(1000 * share)
    return train[~held], train[held]


def fit_target(
    snapshots: pd.DataFrame,
    plan: SnapshotPlan,
    target: Target,
    cfg: LightGBMConfig,
    *,
    search_cfg: SearchConfig | None = None,
    bgnbd: bool = True,
    progress=None,
) -> TargetResult:
    """Fit on the training cutoffs, tune on held-out customers, evaluate on the untouched validation cutoffs.

    With `search_cfg.trials` > 0 the hyperparameters are searched first (scored on the tuning rows only).
    """
    train, val = train_validation_rows(snapshots, plan, target)
    features = [c for c in model_feature_columns(snapshots) if c not in LABEL_COLUMNS]
    fit_rows, tune_rows = split_tuning(train)
    label = LABEL[target]
    for name, part in (("training", fit_rows), ("tuning", tune_rows), ("validation", val)):
        if part[label].nunique() < 2:
            raise ValueError(f"{target}: both classes are needed in the {name} rows")
    fit_xy = (fit_rows[features], fit_rows[label].astype(int), tune_rows[features], tune_rows[label].astype(int))
    trials: list[Trial] = []
    if search_cfg is not None and search_cfg.trials:
        cfg, booster, trials = search(*fit_xy, cfg, search_cfg, progress)
    else:
        booster = fit_classifier(*fit_xy, cfg)
    model, calibration = calibrate(booster, tune_rows[features], tune_rows[label].to_numpy(dtype=int))
    y_train = train[label].astype(int)
    rfm_lr, rfm_cols = fit_rfm_logistic(train, y_train)
    scores = {
        "model": predict_positive(model, val[features]).to_numpy(),
        "recency_rank": recency_baseline(val, positive_is_recent=target == "propensity"),
        "rfm_logistic": rfm_lr.predict_proba(val[rfm_cols].to_numpy(dtype=float))[:, 1],
    }
    notes = {}
    if bgnbd and bgnbd_model.available():
        everyone = snapshots[snapshots["cutoff"].isin(plan.validation)]  # unsupervised: all customers at t
        p_buy = bgnbd_model.purchase_probability(everyone, val, plan.horizon_days)
        scores["bgnbd"] = p_buy if target == "propensity" else 1.0 - p_buy
    elif bgnbd:
        notes["bgnbd"] = "pymc-marketing is not installed (pip install -e '.[bench]'): BG/NBD baseline skipped"
    y = val[label].to_numpy(dtype=int)
    inner = booster.named_steps["model"]
    return TargetResult(
        target=target,
        model=model,
        features=features,
        y_val=y,
        scores=scores,
        metrics={name: binary_metrics(y, p) for name, p in scores.items()},
        X_example=train[features].head(200),
        rows={
            "train_rows": len(fit_rows),
            "tuning_rows": len(tune_rows),
            "validation_rows": len(val),
            "best_iteration": int(inner.best_iteration_ or inner.n_estimators),
        },
        calibration=calibration,
        notes=notes,
        X_val=val[features],
        booster=booster,
        importance=shap_importance(booster, val[features]),
        params=cfg,
        trials=trials,
    )
