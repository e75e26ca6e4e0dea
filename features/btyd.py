"""The purchase-day summary the buy-till-you-die models are defined on, per customer and cutoff.

frequency counts repeat purchase *days*, not orders (same-day extra orders are not repeat purchases);
the models themselves live in `models/bgnbd.py` (BG/NBD) and `models/btyd.py` (Gamma-Gamma and the
value model's BTYD inputs). Like every feature, a cutoff sees only orders on or before its day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd


def purchase_day_summaries(
    con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], customers: Sequence[str] | None = None
) -> pd.DataFrame:
    """cutoff, customer_id, frequency, recency, T, monetary_value per cutoff (orders up to its whole day).

    frequency = repeat purchase *days* (days with a purchase order after the first one), recency = days
    from the first to the last purchase day, T = days from the first purchase day to the cutoff,
    monetary_value = mean net value of the repeat purchase days (0 without one). `customers`: only these
    (the training-row cap's sample: each customer's row depends on its own orders alone).
    """
    cut = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).date})
    con.register("btyd_cutoffs_df", cut)
    only = ""
    if customers is not None:
        con.register("btyd_customers_df", pd.DataFrame({"customer_id": pd.Series(list(customers), dtype=object)}))
        only = "WHERE CAST(customer_id AS VARCHAR) IN (SELECT customer_id FROM btyd_customers_df)"
    try:
        df = con.execute(
            f"""WITH d AS (
                SELECT customer_id, CAST(ts AS DATE) AS day, sum(net) AS net, bool_or(gross > 0) AS purchase
                FROM orders {only} GROUP BY ALL
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
        if customers is not None:
            con.unregister("btyd_customers_df")
    df["cutoff"] = pd.to_datetime(df["cutoff"]).dt.date
    df["customer_id"] = df["customer_id"].astype(str)
    return df
