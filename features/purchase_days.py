"""Distinct purchase days per customer at each cutoff: the repeat-purchase count BG/NBD is defined on.

Kept apart from the feature table (it is the baseline's input, not a model input): `frequency` counts
purchase orders, and same-day extra orders (10 % of Online Retail II's orders) are not repeat purchases
in the BG/NBD sense. Like every feature, a cutoff sees only orders on or before its day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from segment.features.engine import Engine
from segment.schema import CUSTOMER_ID, CUTOFF, PURCHASE_DAYS


def purchase_days_sql(orders: str, cutoffs: str) -> str:
    """(cutoff, customer_id, purchase_days): distinct days with a purchase order on or before each cutoff."""
    return f"""WITH d AS (SELECT DISTINCT customer_id, CAST(ts AS DATE) AS day FROM {orders} WHERE gross > 0)
        SELECT CAST(c.cutoff AS DATE) AS {CUTOFF}, d.customer_id AS {CUSTOMER_ID},
               CAST(count(*) AS DOUBLE) AS {PURCHASE_DAYS}
        FROM d JOIN {cutoffs} c ON d.day <= CAST(c.cutoff AS DATE)
        GROUP BY ALL"""


def purchase_days(engine: Engine, cutoffs: Sequence[date], orders: str = "orders") -> pd.DataFrame:
    """(cutoff, customer_id, purchase_days) for every customer with a purchase order on or before the cutoff."""
    engine.register("purchase_day_cutoffs", pd.DataFrame({CUTOFF: pd.to_datetime(list(cutoffs)).date}))
    df = engine.query(purchase_days_sql(orders, "purchase_day_cutoffs"))
    df[CUTOFF] = pd.to_datetime(df[CUTOFF]).dt.date
    df[CUSTOMER_ID] = df[CUSTOMER_ID].astype(str)
    return df


def with_purchase_days(snapshots: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """The snapshots with their `purchase_days` column (every snapshot row has at least one purchase day)."""
    out = snapshots.merge(days, on=[CUTOFF, CUSTOMER_ID], how="left", validate="one_to_one")
    if out[PURCHASE_DAYS].isna().any():
        raise ValueError("purchase_days: a snapshot customer has no purchase day on or before its cutoff")
    return out
