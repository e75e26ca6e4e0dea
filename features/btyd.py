"""Buy-till-you-die inputs for the value model: BG/NBD and Gamma-Gamma fitted at each cutoff, in numpy.

The classic models are strong rankers of future value (the issue's baseline), and their smoothing of
frequency, recency and age is information the trees would otherwise have to rebuild from raw counts. So
the value model gets their predictions as features: at every cutoff both models are fitted by maximum
likelihood (scipy) on the purchase-day summary of every customer at that cutoff (orders up to its day,
no label: unsupervised), and each customer gets E[purchase days in the next H days], P(alive), the
Gamma-Gamma expected spend per purchase day and their product. Fitted here rather than with
pymc-marketing, which stays optional: the same formulas (Fader, Hardie & Lee 2005; Fader & Hardie 2013),
as the `lifetimes` library wrote them; `tests/test_value.py` checks them against pymc-marketing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

BTYD_FEATURES = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_spend", "btyd_expected_revenue")


def purchase_day_summaries(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date]) -> pd.DataFrame:
    """cutoff, customer_id, frequency, recency, T, monetary_value per cutoff (orders up to its whole day).

    frequency = repeat purchase *days* (days with a purchase order after the first one), recency = days
    from the first to the last purchase day, T = days from the first purchase day to the cutoff,
    monetary_value = mean net value of the repeat purchase days (0 without one).
    """
    cut = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).date})
    con.register("btyd_cutoffs_df", cut)
    try:
        df = con.execute(
            """WITH d AS (
                SELECT customer_id, CAST(ts AS DATE) AS day, sum(net) AS net, bool_or(gross > 0) AS purchase
                FROM orders GROUP BY ALL
            ),
            p AS (
                SELECT CAST(c.cutoff AS DATE) AS cutoff, d.*,
                    min(d.day) OVER (PARTITION BY c.cutoff, d.customer_id) AS first_day
                FROM d JOIN btyd_cutoffs_df c ON d.day <= CAST(c.cutoff AS DATE) WHERE d.purchase
            )
            SELECT cutoff, customer_id,
                CAST(count(*) - 1 AS DOUBLE) AS frequency,
                CAST(date_diff('day', min(day), max(day)) AS DOUBLE) AS recency,
                CAST(date_diff('day', min(day), cutoff) AS DOUBLE) AS T,
                coalesce(avg(net) FILTER (WHERE day > first_day), 0) AS monetary_value
            FROM p GROUP BY cutoff, customer_id ORDER BY cutoff, customer_id"""
        ).df()
    finally:
        con.unregister("btyd_cutoffs_df")
    df["cutoff"] = pd.to_datetime(df["cutoff"]).dt.date
    df["customer_id"] = df["customer_id"].astype(str)
    return df


def _bgnbd_loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> float:
    r, alpha, a, b = np.exp(params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx), -np.inf)
    return float(np.mean(a1 + a2 + np.logaddexp(a3, a4)))


def fit_bgnbd(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[float, float, float, float]:
    """Maximum-likelihood (r, alpha, a, b) of BG/NBD on frequency, recency and age (same time unit)."""
    start = np.log([1.0, max(float(np.mean(T)), 1.0) / 10, 1.0, 1.0])
    res = minimize(lambda p: -_bgnbd_loglik(p, x, tx, T), start, method="L-BFGS-B", bounds=[(-10, 10)] * 4)
    return tuple(float(v) for v in np.exp(res.x))


def bgnbd_expectations(
    params: tuple[float, float, float, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """(E[purchases in the next t], P(alive)) per customer, the conditional expectations of BG/NBD."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
    odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    p_alive = 1.0 / (1.0 + odds)
    expected = (a + b + x - 1) / (a - 1) * (1 - hyp * ((alpha + T) / (alpha + T + t)) ** (r + x)) * p_alive
    expected = np.where(np.isfinite(expected), expected, np.nan)
    return np.clip(expected, 0, None), p_alive


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray) -> tuple[float, float, float]:
    """Maximum-likelihood (p, q, v) of Gamma-Gamma on repeat customers' frequency and mean spend (m > 0)."""

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


def btyd_features(summaries: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """cutoff, customer_id and BTYD_FEATURES: both models fitted per cutoff on every customer at it."""
    parts = []
    for cutoff, s in summaries.groupby("cutoff", sort=True):
        x, tx, T, m = (s[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
        seen = T > 0  # a customer first seen on the cutoff day has no observation window
        repeat = seen & (x > 0) & (m > 0)
        out = pd.DataFrame({"cutoff": cutoff, "customer_id": s["customer_id"].to_numpy()})
        for name in BTYD_FEATURES:
            out[name] = np.nan
        if seen.sum() >= 20 and repeat.sum() >= 20:
            bg = fit_bgnbd(x[seen], tx[seen], T[seen])
            n, alive = bgnbd_expectations(bg, x, tx, np.maximum(T, 1.0), float(horizon_days))
            spend = gamma_gamma_spend(fit_gamma_gamma(x[repeat], m[repeat]), x, m)
            out["btyd_expected_purchases"], out["btyd_p_alive"] = n, alive
            out["btyd_expected_spend"], out["btyd_expected_revenue"] = spend, n * spend
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def btyd_feature_table(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], horizon_days: int) -> pd.DataFrame:
    """BTYD_FEATURES of every customer at each cutoff, from the `orders` table of `con`."""
    return btyd_features(purchase_day_summaries(con, cutoffs), horizon_days)
