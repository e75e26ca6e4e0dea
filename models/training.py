"""Fit one target (churn or propensity) on stacked snapshots and evaluate it against baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from features.customer import model_feature_columns
from features.snapshots import SnapshotPlan
from models.classifiers import fit_classifier, predict_positive
from models.evaluation import binary_metrics, fit_rfm_logistic, recency_baseline
from pipeline.config import LightGBMConfig

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


def target_rows(snapshots: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Rows that belong to the target's population (churn: active customers only)."""
    return snapshots[snapshots[LABEL[target]].notna()]


def fit_target(snapshots: pd.DataFrame, plan: SnapshotPlan, target: Target, cfg: LightGBMConfig) -> TargetResult:
    """Train on the plan's training cutoffs; early-stop and evaluate on its validation cutoffs."""
    rows = target_rows(snapshots, target)
    train = rows[rows["cutoff"].isin(plan.train)]
    val = rows[rows["cutoff"].isin(plan.validation)]
    features = [c for c in model_feature_columns(rows) if c not in LABEL_COLUMNS]
    y_train, y_val = train[LABEL[target]].astype(int), val[LABEL[target]].astype(int)
    if y_train.nunique() < 2 or y_val.nunique() < 2:
        raise ValueError(f"{target}: both classes are needed in training and validation snapshots")
    model = fit_classifier(train[features], y_train, val[features], y_val, cfg)
    rfm_lr, rfm_cols = fit_rfm_logistic(train, y_train)
    scores = {
        "model": predict_positive(model, val[features]).to_numpy(),
        "recency_rank": recency_baseline(val, positive_is_recent=target == "propensity"),
        "rfm_logistic": rfm_lr.predict_proba(val[rfm_cols].to_numpy(dtype=float))[:, 1],
    }
    y = y_val.to_numpy()
    return TargetResult(
        target=target,
        model=model,
        features=features,
        y_val=y,
        scores=scores,
        metrics={name: binary_metrics(y, p) for name, p in scores.items()},
        X_example=train[features].head(200),
        rows={
            "train_rows": len(train),
            "validation_rows": len(val),
            "best_iteration": int(
                model.named_steps["model"].best_iteration_ or model.named_steps["model"].n_estimators
            ),
        },
    )
