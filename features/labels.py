"""Churn and purchase-propensity labels: they look only at orders in (cutoff, cutoff + H].

Propensity asks "will this customer buy in the next N days?" of every customer with a past
purchase. Churn asks "will this *active* customer (bought in the last L days) stop buying for
the next H days?": same future event, inverted, on a narrower population.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from segment.features.engine import Engine
from segment.schema import CUSTOMER_ID, CUTOFF, KEYS, LABEL


def future_buyers_sql(orders: str, cutoffs: str, horizon_days: int) -> str:
    """(cutoff, customer_id) pairs with a purchase order in the label window after each cutoff."""
    return f"""SELECT DISTINCT CAST(c.cutoff AS DATE) AS cutoff, o.customer_id
        FROM {orders} o JOIN {cutoffs} c
          ON o.ts >= CAST(c.cutoff AS DATE) + INTERVAL 1 DAY
         AND o.ts < CAST(c.cutoff AS DATE) + INTERVAL {int(horizon_days) + 1} DAY
        WHERE o.gross > 0"""


def future_buyers(engine: Engine, cutoffs: Sequence[date], horizon_days: int, orders: str = "orders") -> pd.DataFrame:
    """Who buys in (t, t + H] for each cutoff t."""
    engine.register("label_cutoffs", pd.DataFrame({CUTOFF: pd.to_datetime(list(cutoffs)).date}))
    df = engine.query(future_buyers_sql(orders, "label_cutoffs", horizon_days))
    df[CUTOFF] = pd.to_datetime(df[CUTOFF]).dt.date
    df[CUSTOMER_ID] = df[CUSTOMER_ID].astype(str)
    return df


def attach_labels(features: pd.DataFrame, buyers: pd.DataFrame, *, lookback_days: int) -> pd.DataFrame:
    """Add the propensity label (0/1) and the churn label (0/1, NaN outside the active population)."""
    flag = buyers.assign(_buys=1.0)
    out = features.merge(flag, on=list(KEYS), how="left", validate="one_to_one")
    buys = out.pop("_buys").fillna(0.0)
    out[LABEL["propensity"]] = buys.astype(int)
    active = out["recency_days"] < lookback_days
    out[LABEL["churn"]] = (1.0 - buys).where(active)
    return out
