"""The timing model: P(next purchase order within d days) for a grid of d, and the expected next-order date.

A discrete-time hazard: the grid cuts (0, N] into intervals (0, d1], (d1, d2], ...; one LightGBM
classifier learns h_j(x) = P(order in interval j | none before it) on person-period rows (one row per
customer, cutoff and interval the customer was still waiting in; the interval's start and length are
inputs). P(within d_k) = 1 - prod_{j<=k} (1 - h_j) is then monotone in d by construction, whatever the
booster does, and the rows of customers who order early are not wasted on the later intervals.
Chosen over d as a monotone-constrained input because the product needs no constraint to hold and the
hazard rows carry each customer once per interval rather than once per grid point.

`expected_next_order_days` (rule `likely`, the default): for a customer with P(order within N) >= 50 %,
the median day of the next order *given* one within the grid (where the curve, linear between grid
points and 0 at day 0, reaches half its value at N); NaN ("not expected within N days") otherwise.
Rule `crossing` is the first day the curve itself reaches 50 %: it dates the same customers, but later
(for P(within 90) = 0.6 it answers "by day ~60" while such a customer who does order does so around day
20-30), and its dates were no better than a constant day on those customers (docs/models.md).
Rule `conditional` dates everyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from segment.config import LightGBMConfig, ValueConfig
from segment.features.snapshots import SnapshotPlan
from segment.models.btyd import BtydParams
from segment.models.classifiers import fit_classifier
from segment.models.sampling import sample_customers
from segment.models.splits import split_tuning
from segment.models.value import train_validation_rows, value_feature_columns
from segment.models.value_baselines import BtydFit, klaviyo_days
from segment.models.value_metrics import timing_metrics
from segment.schema import NEXT_ORDER_DAYS

INTERVAL_START, INTERVAL_DAYS = "interval_start_days", "interval_days"


def event_interval(days: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """Index of the grid interval holding each next order (day d in (g_{j-1}, g_j] -> j); len(grid) if none."""
    d = np.asarray(days, dtype=float)
    idx = np.searchsorted(np.asarray(grid, dtype=float), np.nan_to_num(d, nan=np.inf), side="left")
    return np.where(np.isnan(d) | (d > grid[-1]), len(grid), idx)


def person_period(X: pd.DataFrame, days: np.ndarray, grid: tuple[int, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (row of X, interval it was still waiting in); label 1 in the interval of its next order."""
    k = event_interval(days, grid)
    reps = np.minimum(k, len(grid) - 1) + 1
    pos = np.repeat(np.arange(len(X)), reps)
    j = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    edges = np.r_[0.0, np.asarray(grid, dtype=float)]
    out = X.iloc[pos].reset_index(drop=True)
    out[INTERVAL_START] = edges[j]
    out[INTERVAL_DAYS] = edges[j + 1] - edges[j]
    return out, (j == k[pos]).astype(int)


def days_at(curve: np.ndarray, grid: tuple[int, ...], level: np.ndarray | float) -> np.ndarray:
    """First day a cumulative curve (rows x grid, linear between points, 0 at day 0) reaches `level`; NaN if never."""
    p = np.c_[np.zeros(len(curve)), curve]
    edges = np.r_[0.0, np.asarray(grid, dtype=float)]
    q = np.broadcast_to(np.asarray(level, dtype=float), (len(curve),))
    reached = p[:, 1:] >= q[:, None]
    k = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
    rows = np.arange(len(curve))
    kk = np.maximum(k, 0)
    lo, hi = p[rows, kk], p[rows, kk + 1]
    frac = np.where(hi > lo, (q - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
    day = np.ceil(edges[kk] + frac * (edges[kk + 1] - edges[kk]))
    return np.where((k >= 0) & (q > 0), np.maximum(day, 1.0), np.nan)


class TimingModel(BaseEstimator):
    """P(next purchase order within d days) for each d of the grid, from a discrete-time hazard booster."""

    def __init__(self, grid: tuple[int, ...] = (7, 14, 30, 60, 90), hazard=None, features: list | None = None) -> None:
        self.grid = grid
        self.hazard = hazard
        self.features = features  # the input columns: a wider feature table is cut to them

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Rows x grid: P(order within grid[k] days), non-decreasing along each row."""
        X = X[self.features] if self.features is not None else X
        edges = np.r_[0.0, np.asarray(self.grid, dtype=float)]
        survive = np.ones(len(X))
        out = np.empty((len(X), len(self.grid)))
        for j in range(len(self.grid)):
            Xj = X.assign(**{INTERVAL_START: edges[j], INTERVAL_DAYS: edges[j + 1] - edges[j]})
            survive = survive * (1.0 - self.hazard.predict_proba(Xj)[:, 1])
            out[:, j] = 1.0 - survive
        return out

    def p_within(self, X: pd.DataFrame) -> dict[int, np.ndarray]:
        """{d: P(order within d days)} for every d of the grid."""
        curve = self.predict(X)
        return {d: curve[:, k] for k, d in enumerate(self.grid)}

    def expected_next_order_days(self, X: pd.DataFrame, *, rule: str = "likely") -> np.ndarray:
        """Days after the cutoff of the expected next order, NaN for no date (`rule`: see the module doc)."""
        return next_order_days_from_curve(self.predict(X), self.grid, rule)


RULES = ("likely", "crossing", "conditional")


def next_order_days_from_curve(curve: np.ndarray, grid: tuple[int, ...], rule: str = "likely") -> np.ndarray:
    """The expected next-order day of each row of a P(within d) curve by `rule` (module doc); NaN = no date."""
    if rule == "crossing":
        return days_at(curve, grid, 0.5)
    median = days_at(curve, grid, 0.5 * curve[:, -1])
    if rule == "conditional":
        return median
    if rule == "likely":
        return np.where(curve[:, -1] >= 0.5, median, np.nan)
    raise ValueError(f"unknown rule {rule!r}; choose from {RULES}")


def expected_next_order_date(cutoff, days: np.ndarray) -> pd.Series:
    """Dates `days` after `cutoff` (a date); missing where there is no expected date."""
    d = pd.to_timedelta(pd.Series(days, dtype=float), unit="D")
    return (pd.Timestamp(cutoff) + d).dt.date.where(d.notna(), None)


@dataclass
class TimingResult:
    """A fitted timing model with validation predictions (days, NaN = no date) and metrics per method."""

    grid: tuple[int, ...]
    model: TimingModel
    features: list[str]
    customer_id: np.ndarray
    actual_days: np.ndarray  # NaN = no purchase order within the grid
    days: dict[str, np.ndarray]
    p_within: dict[str, dict[int, np.ndarray]]
    metrics: dict[str, dict[str, float]]
    X_example: pd.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    X_val: pd.DataFrame | None = None


def timing_grid(cfg: ValueConfig, horizon_days: int) -> tuple[tuple[int, ...], str | None]:
    """The configured grid cut to the plan's horizon (labels exist only that far), with a note when cut."""
    grid = tuple(d for d in cfg.timing_grid_days if d <= horizon_days)
    if not grid:
        raise ValueError(f"value.timing_grid_days {cfg.timing_grid_days} has no point within {horizon_days} days")
    dropped = [d for d in cfg.timing_grid_days if d > horizon_days]
    note = f"grid points {dropped} are past the {horizon_days}-day label window and were dropped" if dropped else None
    return grid, note


def fit_timing(
    snapshots: pd.DataFrame,
    plan: SnapshotPlan,
    cfg: ValueConfig,
    lgbm: LightGBMConfig,
    *,
    summary: pd.DataFrame | None = None,
    btyd: BtydParams | None = None,
    max_rows: int | None = None,
    seed: int = 0,
    rows_available: int | None = None,
    validation_rows_available: int | None = None,
) -> TimingResult:
    """Fit the hazard on the training cutoffs; score it and the baselines on the validation cutoffs.

    `snapshots` carry `next_order_days` censored at or past the grid end (`value_labels.value_snapshots`).
    Baselines: the best constant (the median day of the training rows that ordered within the grid), Klaviyo's
    rule, and BG/NBD's implied timing (ours, `BtydFit`) when `summary` (`value_baselines.purchase_day_summary`
    at the validation cutoff) is given; `btyd`: BG/NBD and Gamma-Gamma already fitted on it, not refitted.
    `max_rows` bounds the hazard's person-period rows (up to one per grid point per training row): the
    training rows are cut to a seeded sample of whole customers with at most `max_rows / len(grid)` rows.
    `rows_available`: the training rows before a cap applied upstream (the snapshot step's), for the card;
    `validation_rows_available`: the same for the validation rows (`models.max_validation_rows`).
    """
    grid, note = timing_grid(cfg, plan.horizon_days)
    n = grid[-1]
    notes = {"grid": note} if note else {}
    train, val = train_validation_rows(snapshots, plan)
    available = rows_available or len(train)
    train = sample_customers(train, None if max_rows is None else max(max_rows // len(grid), 1), seed)
    features = value_feature_columns(snapshots)
    fit_rows, tune_rows = split_tuning(train)

    def censored(rows: pd.DataFrame) -> np.ndarray:
        d = rows[NEXT_ORDER_DAYS].to_numpy(float)
        return np.where(d <= n, d, np.nan)

    Xf, yf = person_period(fit_rows[features], censored(fit_rows), grid)
    Xt, yt = person_period(tune_rows[features], censored(tune_rows), grid)
    hazard = fit_classifier(Xf, pd.Series(yf), Xt, pd.Series(yt), lgbm)
    model = TimingModel(grid=grid, hazard=hazard, features=list(features))

    actual = censored(val)
    train_days = censored(train)
    constant = float(np.nanmedian(train_days))
    curve = model.predict(val[features])
    days = {
        "model": next_order_days_from_curve(curve, grid, "likely"),
        "model_crossing": next_order_days_from_curve(curve, grid, "crossing"),
        "model_conditional": next_order_days_from_curve(curve, grid, "conditional"),
        "constant": np.full(len(val), np.ceil(constant)),
        "klaviyo": klaviyo_days(val["recency_days"], val["gap_mean_days"]),
    }
    rates = {d: float(np.mean(train_days <= d)) for d in grid}  # the constant's P(within d): training rates
    p_within = {
        "model": {d: curve[:, k] for k, d in enumerate(grid)},
        "constant": {d: np.full(len(val), r) for d, r in rates.items()},
    }
    if summary is None:
        notes["bgnbd"] = "no purchase-day summary given: BG/NBD timing baseline skipped"
    else:
        at = summary.set_index("customer_id").loc[val["customer_id"]].reset_index()
        bg = BtydFit(summary, btyd).p_within(at, list(grid))
        bg_curve = np.column_stack([bg[d] for d in grid])
        days["bgnbd"] = next_order_days_from_curve(bg_curve, grid, "crossing")  # its implied timing (issue 18)
        days["bgnbd_likely"] = next_order_days_from_curve(bg_curve, grid, "likely")  # our rule on its curve
        p_within["bgnbd"] = bg
    metrics = {
        name: timing_metrics(actual, d, n, p_within.get(name.split("_")[0]), np.ceil(constant))
        for name, d in days.items()
    }
    return TimingResult(
        grid=grid,
        model=model,
        features=features,
        customer_id=val["customer_id"].to_numpy(),
        actual_days=actual,
        days=days,
        p_within=p_within,
        metrics=metrics,
        X_example=train[features].head(200),
        rows={
            "train_rows": len(Xf),
            "tuning_rows": len(Xt),
            "training_rows_available": available,
            "training_rows_sampled": len(train),
            "validation_rows": len(val),
            "validation_rows_available": validation_rows_available or len(val),
        },
        notes=notes,
        X_val=val[features],
    )
