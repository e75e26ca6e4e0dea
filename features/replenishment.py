"""Repurchase intervals per product and who is due for a refill, point-in-time, as SQL over the clean lines.

A repurchase is the same customer buying the same product again on a later day: the interval is the whole
days between two consecutive purchase days of that (customer, product) pair (several lines or orders on
one day count once; return lines never count). A product qualifies when at least `min_customers`
customers bought it again. Everything is computed from lines at or before the date (its whole day
included, like a feature cutoff), so adding later lines changes nothing.

The builders return SQL text with `?` parameters (the date, thresholds); relation names come from code,
never from config.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

INTERVAL_COLUMNS = ("product_id", "customers", "repurchases", "median_days", "q25_days", "q75_days")
DUE_COLUMNS = ("customer_id", "product_id", "last_purchase", "median_days", "due_date")


def _purchase_days(lines: str) -> str:
    """Distinct (customer, product, day) purchases at or before the date (parameter 1)."""
    return f"""SELECT DISTINCT customer_id, product_id, CAST("timestamp" AS DATE) AS day
        FROM {lines}
        WHERE amount > 0 AND product_id IS NOT NULL AND "timestamp" < CAST(? AS DATE) + INTERVAL 1 DAY"""


def _intervals_body(days: str) -> str:
    """Per product over the purchase days `days`: the interval distribution (parameter: min_customers)."""
    return f"""SELECT product_id, count(DISTINCT customer_id) AS customers, count(*) AS repurchases,
               quantile_cont(gap, 0.5) AS median_days, quantile_cont(gap, 0.25) AS q25_days,
               quantile_cont(gap, 0.75) AS q75_days
        FROM (SELECT customer_id, product_id,
                     date_diff('day', lag(day) OVER (PARTITION BY customer_id, product_id ORDER BY day), day) AS gap
              FROM {days})
        WHERE gap IS NOT NULL
        GROUP BY product_id HAVING count(DISTINCT customer_id) >= ?"""


def intervals_sql(lines: str = "lines") -> str:
    """Per qualifying product: customers who bought it again, repurchases, median and quartiles in days.

    Parameters: (date, min_customers).
    """
    return f"""WITH days AS ({_purchase_days(lines)})
        {_intervals_body("days")}
        ORDER BY median_days, product_id"""


def due_sql(lines: str = "lines") -> str:
    """Customers whose last purchase of a qualifying product plus its median interval falls in (date, date + N].

    The last purchase is the latest at or before the date, so "not bought since" holds by construction.
    Parameters: (date, min_customers, date, date, horizon_days).
    """
    return f"""WITH days AS ({_purchase_days(lines)}),
        intervals AS ({_intervals_body("days")})
        {_due_body("days", "intervals")}"""


def _due_body(days: str, intervals: str) -> str:
    """The due list from purchase days and per-product intervals (parameters: date, date, horizon_days)."""
    due = "l.last_purchase + to_days(CAST(round(i.median_days) AS INTEGER))"
    return f"""SELECT l.customer_id, l.product_id, l.last_purchase, i.median_days, CAST({due} AS DATE) AS due_date
        FROM (SELECT customer_id, product_id, max(day) AS last_purchase FROM {days} GROUP BY ALL) l
        JOIN {intervals} i USING (product_id)
        WHERE {due} > CAST(? AS DATE) AND {due} <= CAST(? AS DATE) + to_days(CAST(? AS INTEGER))
        ORDER BY due_date, customer_id, product_id"""


def repurchase_intervals(
    con: duckdb.DuckDBPyConnection, when: date, min_customers: int, lines: str = "lines"
) -> pd.DataFrame:
    """The interval distribution of every product bought again by at least `min_customers` customers."""
    return con.execute(intervals_sql(lines), [when, min_customers]).df()


def _dates(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("last_purchase", "due_date"):
        df[col] = pd.to_datetime(df[col]).dt.date
    return df


def due_for_refill(
    con: duckdb.DuckDBPyConnection, when: date, min_customers: int, horizon_days: int, lines: str = "lines"
) -> pd.DataFrame:
    """One row per (customer, product) due in the next `horizon_days` days after `when`."""
    return _dates(con.execute(due_sql(lines), [when, min_customers, when, when, horizon_days]).df())


def replenishment(
    con: duckdb.DuckDBPyConnection, when: date, min_customers: int, horizon_days: int, lines: str = "lines"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both `repurchase_intervals` and `due_for_refill`, reading the lines once (a temporary table of days)."""
    days, intervals = "replenishment_days", "replenishment_intervals"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {days} AS {_purchase_days(lines)}", [when])
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {intervals} AS {_intervals_body(days)}", [min_customers])
        per_product = con.execute(f"SELECT * FROM {intervals} ORDER BY median_days, product_id").df()
        due = _dates(con.execute(_due_body(days, intervals), [when, when, horizon_days]).df())
    finally:
        con.execute(f"DROP TABLE IF EXISTS {intervals}")
        con.execute(f"DROP TABLE IF EXISTS {days}")
    return per_product, due
