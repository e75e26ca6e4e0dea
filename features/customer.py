"""Customer features at one or many cutoffs, in one DuckDB query.

A cutoff is a date and includes its whole day: features see orders with
`ts < cutoff + 1 day` and nothing later (DESIGN §3). All day counts are whole calendar days
between the order's date and the cutoff date. Every feature is a float, so a missing value is
NaN, never a crash in an integer column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd
from segment.features.catalogue import available

WINDOWS = (30, 90, 180, 365)
KEYS = ("cutoff", "customer_id")


def _cutoff_join(source: str, ts: str) -> str:
    return f"{source} x JOIN cutoffs c ON x.{ts} < c.cutoff + INTERVAL 1 DAY"


def feature_sql(horizon_days: int, lines_cols: set[str], orders_cols: set[str]) -> str:
    """The feature query over tables `orders`, `lines` and a `cutoffs(cutoff DATE)` relation."""
    h = int(horizon_days)
    win = ",\n".join(f"count(*) FILTER (WHERE age < {w}) AS orders_{w}d" for w in WINDOWS)
    rev = ",\n".join(f"coalesce(sum(net) FILTER (WHERE age < {w}), 0) AS revenue_{w}d" for w in WINDOWS)
    # ORDER BY makes ties deterministic (the alphabetically first wins); plain mode() picks any of them
    country = ", mode(country ORDER BY country) AS country" if "country" in orders_cols else ""
    product_cte, product_cols, product_join = "", "", ""
    if "product_id" in lines_cols or "category" in lines_cols:
        # distinct counts as two grouped aggregates each (these spill to disk; count(DISTINCT) does not)
        ctes, names = [], []
        for col, name in (("product_id", "distinct_products"), ("category", "distinct_categories")):
            if col in lines_cols:
                ctes.append(
                    f"""{name}_x AS (
                        SELECT customer_id, {col}, min("timestamp") AS first_ts
                        FROM lines WHERE amount > 0 GROUP BY ALL
                    ),
                    {name}_c AS (
                        SELECT c.cutoff, x.customer_id, count(*) AS {name}
                        FROM {_cutoff_join(f"{name}_x", "first_ts")} GROUP BY ALL
                    )"""
                )
                names.append(name)
        product_cte = (
            ",\n"
            + ",\n".join(ctes)
            + f""",
        lp AS (
            SELECT cutoff, customer_id, {", ".join(f"{n}_c.{n}" for n in names)}
            FROM {names[0]}_c {"FULL JOIN distinct_categories_c USING (cutoff, customer_id)" if len(names) == 2 else ""}
        )"""
        )
        product_cols = "".join(f", CAST(lp.{n} AS DOUBLE) AS {n}" for n in names)
        product_join = "LEFT JOIN lp USING (cutoff, customer_id)"
    if "category" in lines_cols:
        product_cte += f""",
        cat AS (
            SELECT cutoff, customer_id, max(v) / nullif(sum(v), 0) AS top_category_share FROM (
                SELECT c.cutoff, x.customer_id, x.category, sum(x.amount) AS v
                FROM {_cutoff_join("lines", '"timestamp"')} WHERE x.amount > 0 GROUP BY ALL
            ) GROUP BY ALL
        )"""
        product_cols += ", cat.top_category_share"
        product_join += " LEFT JOIN cat USING (cutoff, customer_id)"
    return f"""
    WITH o AS (
        SELECT c.cutoff, x.*, date_diff('day', CAST(x.ts AS DATE), c.cutoff) AS age
        FROM {_cutoff_join("orders", "ts")}
    ),
    p AS (
        SELECT *, epoch(ts - lag(ts) OVER (PARTITION BY cutoff, customer_id ORDER BY ts, order_id)) / 86400.0 AS gap
        FROM o WHERE gross > 0
    ),
    pa AS (
        SELECT cutoff, customer_id,
            count(*) AS frequency, min(age) AS recency_days, max(age) AS tenure_days,
            sum(gross) AS gross_purchases{", sum(items) AS items" if "items" in orders_cols else ""},
            avg(gap) AS gap_mean_days, stddev_samp(gap) AS gap_std_days,
            {win},
            count(*) FILTER (WHERE age >= 90 AND age < 180) AS orders_prev_90d,
            count(*) FILTER (WHERE age >= 365 - {h} AND age < 365) AS orders_same_window_last_year,
            avg(CASE WHEN age % 365 >= 365 - {h} THEN 1.0 ELSE 0.0 END) AS same_season_share,
            avg(CASE WHEN dayofweek(ts) IN (0, 6) THEN 1.0 ELSE 0.0 END) AS weekend_share
        FROM p GROUP BY cutoff, customer_id
    ),
    oa AS (
        SELECT cutoff, customer_id, sum(net) AS monetary, sum(gross) AS gross, sum(returned) AS returned,
            {"sum(discount) AS discount," if "discount" in orders_cols else ""}
            {rev},
            coalesce(sum(net) FILTER (WHERE age >= 90 AND age < 180), 0) AS revenue_prev_90d{country}
        FROM o GROUP BY cutoff, customer_id
    ){product_cte}
    SELECT cutoff, customer_id,
        CAST(recency_days AS DOUBLE) AS recency_days,
        CAST(frequency AS DOUBLE) AS frequency,
        monetary,
        monetary / frequency AS monetary_mean,
        CAST(tenure_days AS DOUBLE) AS tenure_days,
        {", ".join(f"CAST(orders_{w}d AS DOUBLE) AS orders_{w}d" for w in WINDOWS)},
        {", ".join(f"revenue_{w}d" for w in WINDOWS)},
        CAST(orders_90d - orders_prev_90d AS DOUBLE) AS trend_orders_90d,
        revenue_90d - revenue_prev_90d AS trend_revenue_90d,
        CAST(orders_same_window_last_year AS DOUBLE) AS orders_same_window_last_year,
        gap_mean_days, gap_std_days,
        recency_days / nullif(gap_mean_days, 0) AS recency_over_gap,
        gross_purchases / frequency AS mean_order_value,
        {"items / frequency AS items_per_order," if "items" in orders_cols else ""}
        returned / nullif(gross, 0) AS return_rate,
        {"discount / nullif(gross, 0) AS discount_share," if "discount" in orders_cols else ""}
        weekend_share, same_season_share,
        CAST(month(cutoff) AS DOUBLE) AS cutoff_month{product_cols}{", country" if country else ""}
    FROM pa JOIN oa USING (cutoff, customer_id) {product_join}
    ORDER BY cutoff, customer_id
    """


def customer_features(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], *, horizon_days: int) -> pd.DataFrame:
    """One row per (cutoff, customer with a purchase on or before the cutoff).

    Reads the tables `orders` and `lines` of `con`; `horizon_days` sets the seasonal features.
    """
    cut = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).date})
    con.register("cutoffs_df", cut)
    try:
        con.execute("CREATE OR REPLACE TEMP VIEW cutoffs AS SELECT CAST(cutoff AS DATE) AS cutoff FROM cutoffs_df")
        sql = feature_sql(horizon_days, set(con.table("lines").columns), set(con.table("orders").columns))
        df = con.execute(sql).df()
    finally:
        con.unregister("cutoffs_df")
    order = [f.name for f in available(set(con.table("lines").columns))]
    df = df[[*KEYS, *order]]  # catalogue order; a feature missing from the catalogue fails here
    numeric = df.select_dtypes("number").columns
    df[numeric] = df[numeric].astype(float).round(9)  # parallel float sums differ in the last bits: not here
    df["cutoff"] = pd.to_datetime(df["cutoff"]).dt.date
    df["customer_id"] = df["customer_id"].astype(str)
    if "country" in df:
        df["country"] = df["country"].fillna("unknown").astype(str)
    return df


def model_feature_columns(features: pd.DataFrame) -> list[str]:
    """Columns a model consumes: everything but the keys."""
    return [c for c in features.columns if c not in KEYS]
