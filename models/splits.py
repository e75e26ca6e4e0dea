"""Which snapshot rows a model fits, tunes, calibrates and is evaluated on: temporal and by customer.

A customer's consecutive snapshots share most of their label window, so every split that holds rows out
for tuning is by customer, never by row; the validation cutoffs are held out in time (DESIGN §3).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from segment.features.customer import model_feature_columns
from segment.features.snapshots import SnapshotPlan
from segment.models.calibration import logit
from segment.schema import LABEL, LABEL_COLUMNS, PURCHASE_DAYS, SEASON_CONSTANTS, Target

YEAR = timedelta(days=364)  # 52 weeks: the same weekday and calendar window one year earlier


def model_inputs(snapshots: pd.DataFrame, extra: tuple[str, ...] = ()) -> list[str]:
    """Feature columns a model consumes: not the labels, not BG/NBD's purchase days, not per-snapshot constants.

    `cutoff_month` is the same for every row of a snapshot, so it can only carry the season's base rate
    learnt from one earlier year (it ranked first by |SHAP|), and that level is what drifts from year to
    year; the level is set by the out-of-time calibration instead (docs/models.md).
    """
    drop = {*LABEL_COLUMNS, PURCHASE_DAYS, *SEASON_CONSTANTS}
    return [c for c in model_feature_columns(snapshots) if c not in drop and c not in extra] + list(extra)


def train_validation_rows(
    snapshots: pd.DataFrame, plan: SnapshotPlan, target: Target
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The target's population (churn: active customers only) at the training and at the validation cutoffs."""
    rows = snapshots[snapshots[LABEL[target]].notna()]
    return rows[rows["cutoff"].isin(plan.train)], rows[rows["cutoff"].isin(plan.validation)]


def split_tuning(train: pd.DataFrame, share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fixed fifth of the customers, across every booster cutoff, early-stops the booster.

    Split by customer, never by row: consecutive snapshots of one customer share most of their label
    window, so a booster that saw a customer's earlier snapshots has as good as seen the label of a
    later one, and a tuning set made of them would stop late.
    """
    bucket = pd.util.hash_pandas_object(train["customer_id"], index=False).to_numpy() % 1000
    held = bucket < int(1000 * share)
    return train[~held], train[held]


def booster_cutoffs(train_cutoffs: tuple[date, ...], horizon_days: int) -> tuple[list[date], date]:
    """(cutoffs the booster is fitted on, the calibration cutoff): the latest training cutoff calibrates.

    The booster's cutoffs end one horizon before it, so none of its labels reaches into the calibration
    window; with too short a history the booster takes every earlier cutoff.
    """
    ordered = sorted(train_cutoffs)
    if len(ordered) < 2:
        raise ValueError("out-of-time calibration needs at least two training cutoffs")
    calibration = ordered[-1]
    fit = [c for c in ordered if c + timedelta(days=horizon_days) <= calibration] or ordered[:-1]
    return fit, calibration


def _nearest(cutoffs: list[date], target: date, tolerance_days: int = 10) -> date | None:
    best = min(cutoffs, key=lambda c: abs((c - target).days), default=None)
    return best if best is not None and abs((best - target).days) <= tolerance_days else None


def season_step(predict, rows: pd.DataFrame, label: str, frm: date, to: date) -> float | None:
    """Log-odds step of the season from the window after `frm` to the window after `to`, a year earlier.

    At each of the two cutoffs one year back, the residual level logit(observed rate) - logit(mean
    prediction) is what the model's customer-level inputs do not explain: the store's season. The step
    is the difference; None when the data has no labelled cutoff a year before either date.
    `predict(rows)` returns the model's probabilities before any season step.
    """
    cutoffs = sorted(rows["cutoff"].unique())
    a, b = _nearest(cutoffs, frm - YEAR), _nearest(cutoffs, to - YEAR)
    if a is None or b is None:
        return None
    level = {}
    for c in (a, b):
        part = rows[rows["cutoff"] == c]
        level[c] = float(logit(part[label].mean()) - logit(predict(part).mean()))
    return level[b] - level[a]
