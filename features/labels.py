"""Churn and purchase-propensity labels: they look only at orders in (cutoff, cutoff + H].

Propensity asks "will this customer buy in the next N days?" of every customer with a past
purchase. Churn asks "will this *active* customer (bought in the last L days) stop buying for
the next H days?": same future event, inverted, on a narrower population.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd


def future_buyers(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], horizon_days: int) -> pd.DataFrame:
    """(cutoff, customer_id) pairs with a purchase order in the label window after each cutoff."""
    cut = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).date})
    con.register("label_cutoffs_df", cut)
    try:
        df = con.execute(
            f"""SELECT DISTINCT CAST(c.cutoff AS DATE) AS cutoff, o.customer_id
            FROM orders o JOIN label_cutoffs_df c
              ON o.ts >= CAST(c.cutoff AS DATE) + INTERVAL 1 DAY
             AND o.ts < CAST(c.cutoff AS DATE) + INTERVAL {int(horizon_days) + 1} DAY
            WHERE o.gross > 0"""
        ).df()
    finally:
        con.unregister("label_cutoffs_df")
    df["cutoff"] = pd.to_datetime(df["cutoff"]).dt.date
    df["customer_id"] = df["customer_id"].astype(str)
    return df


def attach_labels(features: pd.DataFrame, buyers: pd.DataFrame, *, lookback_days: int) -> pd.DataFrame:
    """Add `purchase_label` (0/1) and `churn_label` (0/1, NaN outside the active population)."""
    flag = buyers.assign(_buys=1.0)
    out = features.merge(flag, on=["cutoff", "customer_id"], how="left", validate="one_to_one")
    buys = out.pop("_buys").fillna(0.0)
    out["purchase_label"] = buys.astype(int)
    active = out["recency_days"] < lookback_days
    out["churn_label"] = (1.0 - buys).where(active)
    return out
