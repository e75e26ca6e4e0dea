"""Value and timing metrics with stable names, the same for the models and every baseline.

Value (`value_val_{name}`): `spearman` rank correlation, normalised `gini` (the Gini of the predicted
ordering over the Gini of the perfect one: 1 ranks perfectly, 0 is random), `top_decile_capture` (share of
actual revenue in the top 10 % by prediction), `mae`, `rmse`, `bias` (sum predicted / sum actual).
Ties in a prediction (a baseline that predicts 0 for half the customers) are scored as their average:
within a tied group the order is unknown, so no metric may depend on row order.

Timing (`timing_val_{name}`): `mae_days`, the median absolute error in days of the predicted next-order
date over the customers who did order again within the grid (a customer given no date, "not expected
within N days", or a date past day N counts as predicted at day N, the most favourable reading);
`ece_{d}`, the 10-bin expected calibration error of P(order within d days) at d = 30 and 90;
`dated_share`, the share of customers given a date within the grid; `skill`, 1 - mae_days / mae_days of
the best constant (positive = better than it); `mae_days_dated` and `skill_dated`, the same on the
customers given a date only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from segment.models.evaluation import expected_calibration_error

VALUE_METRICS = ("spearman", "gini", "top_decile_capture", "mae", "rmse", "bias", "mean_prediction", "mean_actual")
LOWER_IS_BETTER = {"mae", "rmse", "mae_days", "ece_30", "ece_90"}
ECE_DAYS = (30, 90)


def _tie_averaged(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each actual replaced by the mean actual of its group of tied predictions."""
    return pd.Series(y).groupby(p).transform("mean").to_numpy()


def normalised_gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini of the ordering by `p` over the Gini of the ordering by `y` itself (ties in `p` averaged)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)

    def gini(actual: np.ndarray, score: np.ndarray) -> float:
        order = np.argsort(-score, kind="stable")
        total = actual.sum()
        if total == 0:
            return float("nan")
        n = len(actual)
        return float(np.cumsum(actual[order]).sum() / total / n - (n + 1) / (2 * n))

    perfect = gini(y, y)
    return gini(_tie_averaged(y, p), p) / perfect if perfect else float("nan")


def top_decile_capture(y: np.ndarray, p: np.ndarray) -> float:
    """Share of the total actual value held by the top 10 % of rows by prediction (ties averaged)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    n = max(1, int(np.ceil(len(p) * 0.1)))
    top = np.argsort(-p, kind="stable")[:n]
    total = y.sum()
    return float(_tie_averaged(y, p)[top].sum() / total) if total else float("nan")


def value_metrics(y_true: np.ndarray | pd.Series, pred: np.ndarray | pd.Series) -> dict[str, float]:
    """Every value metric of predictions `pred` against actual values `y_true`."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(pred, dtype=float)
    err = p - y
    rho = spearmanr(y, p).statistic if np.ptp(p) > 0 and np.ptp(y) > 0 else float("nan")
    return {
        "spearman": float(rho),
        "gini": normalised_gini(y, p),
        "top_decile_capture": top_decile_capture(y, p),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "bias": float(p.sum() / y.sum()) if y.sum() else float("nan"),
        "mean_prediction": float(p.mean()),
        "mean_actual": float(y.mean()),
    }


def decile_table(y_true: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """Mean predicted and mean actual value per decile of the prediction (1 = highest): the calibration plot."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(pred, dtype=float)
    order = np.argsort(-p, kind="stable")
    decile = np.empty(len(p), dtype=int)
    decile[order] = np.arange(len(p)) * 10 // len(p) + 1
    df = pd.DataFrame({"decile": decile, "predicted": p, "actual": y})
    return df.groupby("decile", as_index=False).agg(
        customers=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean")
    )


def lorenz_curve(y_true: np.ndarray, pred: np.ndarray, points: int = 100) -> pd.DataFrame:
    """Share of customers (by prediction, highest first) against share of actual revenue they hold: the gains plot.

    The perfect ordering's curve is in `perfect`, for the same plot.
    """
    y, p = np.asarray(y_true, dtype=float), np.asarray(pred, dtype=float)
    share = np.linspace(0, 1, points + 1)
    cut = np.ceil(share * len(y)).astype(int)
    total = y.sum() or 1.0

    def captured(order: np.ndarray) -> np.ndarray:
        return np.r_[0.0, np.cumsum(y[order])][cut] / total

    return pd.DataFrame(
        {
            "customer_share": share,
            "revenue_share": captured(np.argsort(-p, kind="stable")),
            "perfect": captured(np.argsort(-y, kind="stable")),
        }
    )


def date_errors(actual_days: np.ndarray, predicted_days: np.ndarray, grid_end: int) -> np.ndarray:
    """|predicted - actual| in days for customers who ordered again within the grid.

    No date, or a date past the grid end, counts as day N (the grid end): every method is judged on the
    same customers by the same rule.
    """
    a, p = np.asarray(actual_days, dtype=float), np.asarray(predicted_days, dtype=float)
    seen = ~np.isnan(a) & (a <= grid_end)
    return np.abs(np.fmin(p[seen], float(grid_end)) - a[seen])


def timing_metrics(
    actual_days: np.ndarray,
    predicted_days: np.ndarray,
    grid_end: int,
    p_within: dict[int, np.ndarray] | None = None,
    constant_days: float | None = None,
) -> dict[str, float]:
    """Timing metrics of a predicted next-order day (NaN = no date) against the actual one (NaN = none by N).

    `p_within` maps d to P(order within d days) for the calibration metrics (a baseline without
    probabilities has none). With `constant_days`, the best constant's day, `skill` compares with it on
    the same customers, and `mae_days_dated` / `skill_dated` repeat both on the customers given a date
    within the grid only (who ordered again), the error of the dates a user is actually shown.
    """
    a, p = np.asarray(actual_days, dtype=float), np.asarray(predicted_days, dtype=float)
    err = date_errors(a, p, grid_end)
    mae = float(np.median(err)) if len(err) else float("nan")
    out = {"mae_days": mae, "dated_share": float((p <= grid_end).mean()), "reordered_share": float(len(err) / len(a))}
    dated = p <= grid_end
    dated_err = date_errors(a[dated], p[dated], grid_end)
    out["mae_days_dated"] = float(np.median(dated_err)) if len(dated_err) else float("nan")
    if constant_days is not None:
        const = np.full(len(a), float(constant_days))
        const_mae = float(np.median(date_errors(a, const, grid_end)))
        const_dated = date_errors(a[dated], const[dated], grid_end)
        out["skill"] = 1.0 - mae / const_mae if const_mae else float("nan")
        const_dated_mae = float(np.median(const_dated)) if len(const_dated) else float("nan")
        out["skill_dated"] = 1.0 - out["mae_days_dated"] / const_dated_mae
    for d in ECE_DAYS:
        if p_within is not None and d in p_within:
            hit = (~np.isnan(a) & (a <= d)).astype(float)
            out[f"ece_{d}"] = expected_calibration_error(hit, np.asarray(p_within[d], dtype=float))
            out[f"mean_p_{d}"] = float(np.mean(p_within[d]))
            out[f"rate_{d}"] = float(hit.mean())
    return out


def metric_names(prefix: str, metrics: dict[str, float], baseline: str | None = None) -> dict[str, float]:
    """Stable names: `{prefix}_val_{name}` for the model, `{prefix}_baseline_{baseline}_val_{name}` for a baseline."""
    middle = f"_baseline_{baseline}" if baseline else ""
    return {f"{prefix}{middle}_val_{k}": v for k, v in metrics.items()}


def challenger_wins(metric: str, new: float, champion: float) -> bool:
    """Whether a new model matches or beats the champion on `metric` (ties go to the newer model)."""
    return new <= champion if metric in LOWER_IS_BETTER else new >= champion
