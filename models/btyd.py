"""Buy-till-you-die inputs for the value model: BG/NBD and Gamma-Gamma fitted at each cutoff.

The classic models are strong rankers of future value (the issue's baseline), and their smoothing of
frequency, recency and age is information the trees would otherwise have to rebuild from raw counts. So
the value model gets their predictions as features: at every cutoff both models are fitted by maximum
likelihood on the purchase-day summary of every customer at that cutoff (orders up to its day, no label:
unsupervised), and each customer gets E[purchase days in the next H days], P(alive), the Gamma-Gamma
expected spend per purchase day and their product. BG/NBD is `models/bgnbd.py` (checked against the
paper's CDNOW figures); Gamma-Gamma (Fader & Hardie 2013) is here; `tests/test_value.py` checks both
against pymc-marketing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln

from segment.features.btyd import purchase_day_summaries
from segment.features.cutoff_tables import CutoffTables
from segment.features.value_labels import attach_value_labels, future_revenue, next_order_days, past_revenue
from segment.models import bgnbd

BTYD_FEATURES = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_spend", "btyd_expected_revenue")


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray, max_rows: int | None = bgnbd.FIT_ROWS) -> tuple[float, float, float]:
    """Maximum-likelihood (p, q, v) of Gamma-Gamma on repeat customers' frequency and mean spend (m > 0).

    Above `max_rows` customers it reads a seeded sample of them, as BG/NBD does (`bgnbd.fit_rows`).
    """
    x, m = bgnbd.fit_rows(np.asarray(x, dtype=float), np.asarray(m, dtype=float), max_rows=max_rows)

    def loglik(params: np.ndarray) -> float:
        p, q, v = np.exp(params)
        px = p * x
        ll = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m) + px * np.log(x)
        return float(np.mean(ll - (px + q) * np.log(x * m + v)))

    start = np.log([1.0, 2.0, float(np.mean(m))])
    res = minimize(lambda p: -loglik(p), start, method="L-BFGS-B", bounds=[(-10, 15)] * 3)
    return tuple(float(v) for v in np.exp(res.x))


def gamma_gamma_spend(params: tuple[float, float, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[spend per purchase day]: the customer's mean shrunk to the population's (population mean at x = 0)."""
    p, q, v = params
    return (p * (v + x * np.clip(m, 0, None))) / (p * x + q - 1)


BtydParams = tuple[bgnbd.BgNbdParams, tuple[float, float, float]]  # BG/NBD's and Gamma-Gamma's fitted parameters


def fit_btyd(x: np.ndarray, tx: np.ndarray, T: np.ndarray, m: np.ndarray) -> BtydParams:
    """BG/NBD on one cutoff's customers seen before its day, Gamma-Gamma on its repeat customers (m > 0).

    The value inputs and the baselines' `BtydFit` fit through this one function, so one fit serves both.
    """
    seen = T > 0  # a customer first seen on the cutoff day has no observation window
    repeat = seen & (x > 0) & (m > 0)
    return bgnbd.fit(x[seen], tx[seen], T[seen]), fit_gamma_gamma(x[repeat], m[repeat])


def btyd_features(
    summaries: pd.DataFrame, horizon_days: int, fitted: dict[date, BtydParams] | None = None
) -> pd.DataFrame:
    """cutoff, customer_id and BTYD_FEATURES: both models fitted per cutoff on every customer at it.

    `fitted`: parameters already fitted at some cutoffs (they do not depend on H), used instead of a refit;
    the fits made here are added to it.
    """
    parts = []
    for cutoff, s in summaries.groupby("cutoff", sort=True):
        x, tx, T, m = (s[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
        seen = T > 0  # a customer first seen on the cutoff day has no observation window
        repeat = seen & (x > 0) & (m > 0)
        out = pd.DataFrame({"cutoff": cutoff, "customer_id": s["customer_id"].to_numpy()})
        for name in BTYD_FEATURES:
            out[name] = np.nan
        if seen.sum() >= 20 and repeat.sum() >= 20:
            params = fitted.get(cutoff) if fitted is not None else None
            bg, gg = params if params is not None else fit_btyd(x, tx, T, m)
            if fitted is not None:
                fitted[cutoff] = (bg, gg)
            age = np.maximum(T, 1.0)
            n = bgnbd.conditional_expected_purchases(bg, x, tx, age, float(horizon_days))
            alive = bgnbd.p_alive(bg, x, tx, age)
            spend = gamma_gamma_spend(gg, x, m)
            out["btyd_expected_purchases"], out["btyd_p_alive"] = n, alive
            out["btyd_expected_spend"], out["btyd_expected_revenue"] = spend, n * spend
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def btyd_feature_table(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], horizon_days: int) -> pd.DataFrame:
    """BTYD_FEATURES of every customer at each cutoff, from the `orders` table of `con`."""
    return btyd_features(purchase_day_summaries(con, cutoffs), horizon_days)


def value_features(
    con: duckdb.DuckDBPyConnection,
    cutoffs: Sequence[date],
    *,
    horizon_days: int,
    feature_horizon: int,
    tables: CutoffTables | None = None,
) -> pd.DataFrame:
    """The value and timing models' inputs: the customer features plus the BTYD features for horizon H.

    `tables` holds what the run already built at some cutoffs (the snapshot step's features, earlier
    horizons' summaries and BTYD fits): only the missing cutoffs are computed, with the same result.
    """
    tables = tables or CutoffTables(con, feature_horizon)
    if tables.feature_horizon != feature_horizon:
        raise ValueError(f"features for horizon {feature_horizon} asked of tables built for {tables.feature_horizon}")
    feats = tables.features(cutoffs)
    btyd = btyd_features(tables.summaries(cutoffs), horizon_days, tables.btyd)
    return feats.merge(btyd, on=["cutoff", "customer_id"], how="left", validate="one_to_one")


def value_snapshots(
    con: duckdb.DuckDBPyConnection,
    cutoffs: Sequence[date],
    *,
    horizon_days: int,
    grid_end: int,
    feature_horizon: int,
    tables: CutoffTables | None = None,
) -> pd.DataFrame:
    """Customer features at `cutoffs`, the BTYD features for H, and the value (H) and timing (`grid_end`) labels.

    `feature_horizon` sets the seasonal features (`time.horizon_days`), so the table has the columns of the
    churn and propensity snapshots plus `BTYD_FEATURES`; a scorer builds the same with
    `customer_features` and `btyd_feature_table` (`value_features`). `tables`: as in `value_features`.
    """
    feats = value_features(con, cutoffs, horizon_days=horizon_days, feature_horizon=feature_horizon, tables=tables)
    whole, cut = tables.split(cutoffs) if tables is not None else (list(cutoffs), [])

    def labels(fn, days: int) -> pd.DataFrame:  # the cut cutoffs' labels read the cap's customers' orders only
        parts = [fn(con, whole, days)] if whole else []
        if cut:
            with tables.sampled_orders() as orders:
                parts.append(fn(con, cut, days, orders=orders))
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    return attach_value_labels(
        feats,
        labels(future_revenue, horizon_days),
        labels(past_revenue, horizon_days),
        labels(next_order_days, grid_end),
    )
