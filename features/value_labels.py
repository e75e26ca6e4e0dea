"""Value and timing labels: net revenue in (t, t + H] and the days to the next purchase order after t.

Labels look only at orders strictly after the cutoff's day (`ts >= cutoff + 1 day`, the same boundary as
`features/labels.py`). Value is net: returns dated in the window reduce it, whatever the purchase they
refund; a window whose returns exceed its purchases is worth 0 (`value_label`), with the raw net kept in
`value_net` so the share of such windows can be reported. Timing counts whole calendar days from the
cutoff to the next purchase order's date (1 = the next day), censored at `grid_end` days: customers with
no purchase by then get NaN, and `next_order_observed` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd

from segment.schema import NEXT_ORDER_DAYS, NEXT_ORDER_OBSERVED, PAST_VALUE, VALUE_LABEL, VALUE_NET


def _with_cutoffs(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], sql: str) -> pd.DataFrame:
    """Run `sql` with the relation `value_cutoffs(cutoff DATE)` registered; keys typed as elsewhere."""
    cut = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).date})
    con.register("value_cutoffs_df", cut)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW value_cutoffs AS SELECT CAST(cutoff AS DATE) AS cutoff FROM value_cutoffs_df"
        )
        df = con.execute(sql).df()
    finally:
        con.execute("DROP VIEW IF EXISTS value_cutoffs")
        con.unregister("value_cutoffs_df")
    df["cutoff"] = pd.to_datetime(df["cutoff"]).dt.date
    df["customer_id"] = df["customer_id"].astype(str)
    return df


def future_revenue(
    con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], horizon_days: int, orders: str = "orders"
) -> pd.DataFrame:
    """(cutoff, customer_id, value_net): net value of the orders dated in (cutoff, cutoff + H], where there are any."""
    h = int(horizon_days)
    return _with_cutoffs(
        con,
        cutoffs,
        f"""SELECT c.cutoff, o.customer_id, sum(o.net) AS {VALUE_NET}
        FROM {orders} o JOIN value_cutoffs c
          ON o.ts >= c.cutoff + INTERVAL 1 DAY AND o.ts < c.cutoff + INTERVAL {h + 1} DAY
        GROUP BY ALL""",
    )


def past_revenue(
    con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], horizon_days: int, orders: str = "orders"
) -> pd.DataFrame:
    """(cutoff, customer_id, past_value): net order value dated in (cutoff - H, cutoff], floored at 0.

    The "last H days repeat" baseline: it sees only orders up to the cutoff's day, as every feature does.
    """
    h = int(horizon_days)
    return _with_cutoffs(
        con,
        cutoffs,
        f"""SELECT c.cutoff, o.customer_id, greatest(sum(o.net), 0) AS {PAST_VALUE}
        FROM {orders} o JOIN value_cutoffs c
          ON o.ts >= c.cutoff - INTERVAL {h - 1} DAY AND o.ts < c.cutoff + INTERVAL 1 DAY
        GROUP BY ALL""",
    )


def next_order_days(
    con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], grid_end: int, orders: str = "orders"
) -> pd.DataFrame:
    """(cutoff, customer_id, next_order_days): days from the cutoff to the first purchase order after it.

    Only customers with a purchase order in (cutoff, cutoff + grid_end]; everyone else is censored.
    """
    g = int(grid_end)
    return _with_cutoffs(
        con,
        cutoffs,
        f"""SELECT c.cutoff, o.customer_id,
            CAST(min(date_diff('day', c.cutoff, CAST(o.ts AS DATE))) AS DOUBLE) AS {NEXT_ORDER_DAYS}
        FROM {orders} o JOIN value_cutoffs c
          ON o.ts >= c.cutoff + INTERVAL 1 DAY AND o.ts < c.cutoff + INTERVAL {g + 1} DAY
        WHERE o.gross > 0
        GROUP BY ALL""",
    )


def attach_value_labels(
    features: pd.DataFrame, revenue: pd.DataFrame, past: pd.DataFrame, next_days: pd.DataFrame
) -> pd.DataFrame:
    """Add `value_net`, `value_label` (net floored at 0), `past_value`, `next_order_days`, `next_order_observed`."""
    keys = ["cutoff", "customer_id"]
    out = features.merge(revenue, on=keys, how="left", validate="one_to_one")
    out = out.merge(past, on=keys, how="left", validate="one_to_one")
    out = out.merge(next_days, on=keys, how="left", validate="one_to_one")
    out[VALUE_NET] = out[VALUE_NET].fillna(0.0).astype(float)
    out[VALUE_LABEL] = out[VALUE_NET].clip(lower=0.0)
    out[PAST_VALUE] = out[PAST_VALUE].fillna(0.0).astype(float)
    out[NEXT_ORDER_OBSERVED] = out[NEXT_ORDER_DAYS].notna()
    return out
