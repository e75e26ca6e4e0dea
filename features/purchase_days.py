"""Distinct purchase days per customer at each cutoff: the repeat-purchase count BG/NBD is defined on.

Kept apart from the feature table (it is the baseline's input, not a model input): `frequency` counts
purchase orders, and same-day extra orders (10 % of Online Retail II's orders) are not repeat purchases
in the BG/NBD sense. Like every feature, a cutoff sees only orders on or before its day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd

from segment.schema import CUSTOMER_ID, CUTOFF, PURCHASE_DAYS


def purchase_days(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date]) -> pd.DataFrame:
    """(cutoff, customer_id, purchase_days) for every customer with a purchase order on or before the cutoff."""
    cut = pd.DataFrame({CUTOFF: pd.to_datetime(list(cutoffs)).date})
    con.register("purchase_day_cutoffs_df", cut)
    try:
        df = con.execute(
            f"""WITH d AS (SELECT DISTINCT customer_id, CAST(ts AS DATE) AS day FROM orders WHERE gross > 0)
            SELECT CAST(c.cutoff AS DATE) AS {CUTOFF}, d.customer_id AS {CUSTOMER_ID},
                   CAST(count(*) AS DOUBLE) AS {PURCHASE_DAYS}
            FROM d JOIN purchase_day_cutoffs_df c ON d.day <= CAST(c.cutoff AS DATE)
            GROUP BY ALL"""
        ).df()
    finally:
        con.unregister("purchase_day_cutoffs_df")
    df[CUTOFF] = pd.to_datetime(df[CUTOFF]).dt.date
    df[CUSTOMER_ID] = df[CUSTOMER_ID].astype(str)
    return df


def with_purchase_days(snapshots: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """The snapshots with their `purchase_days` column (every snapshot row has at least one purchase day)."""
    out = snapshots.merge(days, on=[CUTOFF, CUSTOMER_ID], how="left", validate="one_to_one")
    if out[PURCHASE_DAYS].isna().any():
        raise ValueError("purchase_days: a snapshot customer has no purchase day on or before its cutoff")
    return out
