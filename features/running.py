"""Customer features at many cutoffs from running sums per customer (a prototype; not wired in).

`features.customer.feature_sql` joins every order to every cutoff at or after it, so 32 cutoffs read
about 16 times the orders. Here each customer's orders are read once: one marker row per (customer,
cutoff) is put into the customer's day-ordered stream of orders, and every feature is a window
aggregate over that stream ending at the marker (`RANGE BETWEEN n PRECEDING AND CURRENT ROW` on the day
number for "the last n days", `UNBOUNDED PRECEDING` for "so far"); then only the marker rows are kept.
The gaps between purchases do not depend on the cutoff (a purchase's predecessor is the same at every
cutoff that sees it), so they are computed once. Only standard window frames are used (no ASOF join, no
FILTER inside a window), so SQLGlot can translate the query for Spark.

Two features are not running sums: the customer's most frequent country and the top category's share.
Almost every customer has one country (and the top-category share needs the per-category totals), so
those are computed by joining the cutoffs to only the customers that need it. The output equals
`features.customer.customer_features` (checked in tests/test_running_features.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd

from segment.features.catalogue import available
from segment.schema import KEYS, WINDOWS

EPOCH = "DATE '1970-01-01'"


def _day(expr: str) -> str:
    """Whole days since 1970 of a timestamp: the integer the range frames are ordered by."""
    return f"date_diff('day', {EPOCH}, CAST({expr} AS DATE))"


def _season_frames(horizon_days: int, max_age_days: int) -> list[tuple[int, int]]:
    """Age ranges [lo, hi] in days with `age % 365 >= 365 - h`, up to the oldest age in the data."""
    h = int(horizon_days)
    if h >= 365:
        return [(0, max(max_age_days, 0))]
    return [(365 * k + 365 - h, 365 * k + 364) for k in range(max(max_age_days, 0) // 365 + 1)]


def running_sql(horizon_days: int, lines_cols: set[str], orders_cols: set[str], max_age_days: int) -> str:
    """The feature query over tables `orders`, `lines` and a `cutoffs(cutoff DATE)` relation.

    `max_age_days` (latest cutoff minus the first order's day) bounds the seasonal frames.
    """
    h = int(horizon_days)
    items = "items" in orders_cols
    discount = "discount" in orders_cols
    names = [
        n for c, n in (("product_id", "distinct_products"), ("category", "distinct_categories")) if c in lines_cols
    ]

    def frame(lo: int | None, hi: int) -> str:
        start = "UNBOUNDED PRECEDING" if lo is None else f"{lo} PRECEDING"
        end = "CURRENT ROW" if hi == 0 else f"{hi} PRECEDING"
        return f"OVER (PARTITION BY customer_id ORDER BY day RANGE BETWEEN {start} AND {end})"

    cum = frame(None, 0)
    buy = "CASE WHEN is_order = 1 AND gross > 0 THEN 1 ELSE 0 END"
    net = "CASE WHEN is_order = 1 THEN net ELSE 0 END"
    win = [f"sum({buy}) {frame(w - 1, 0)} AS orders_{w}d" for w in WINDOWS]
    win += [f"sum({net}) {frame(w - 1, 0)} AS revenue_{w}d" for w in WINDOWS]
    season = " + ".join(
        f"coalesce(sum(CASE WHEN gross > 0 THEN 1 ELSE 0 END) {frame(hi, lo)}, 0)"
        for lo, hi in _season_frames(h, max_age_days)
    )
    # a frame ending before CURRENT ROW counts only orders (markers sit at the cutoff's own day)
    new_counts = "".join(f", sum(new_{n}) {cum} AS {n}" for n in names)
    # one row per (customer, day) with how many products / categories were first bought that day
    if names:
        per_col = []
        for col, n in (("product_id", "distinct_products"), ("category", "distinct_categories")):
            if col in lines_cols:
                per_col.append(
                    f"""SELECT customer_id, {_day("first_ts")} AS day, count(*) AS new_{n}
                    FROM (SELECT customer_id, {col}, min("timestamp") AS first_ts FROM lines
                          WHERE amount > 0 GROUP BY ALL) GROUP BY ALL"""
                )
        joined = (
            per_col[0]
            if len(per_col) == 1
            else (
                f"SELECT customer_id, day, f0.new_{names[0]}, f1.new_{names[1]} FROM ({per_col[0]}) f0 "
                f"FULL JOIN ({per_col[1]}) f1 USING (customer_id, day)"
            )
        )
        firsts_cte = f""",
    firsts AS ({joined})"""
    else:
        firsts_cte = ""
    zero_new = "".join(f", 0 AS new_{n}" for n in names)
    opt_zero = ("0, " if items else "") + ("0, " if discount else "")
    firsts_rows = ""
    if names:
        counts = ", ".join(f"coalesce(new_{n}, 0)" for n in names)
        firsts_rows = (
            f"UNION ALL SELECT customer_id, day, 2, NULL, 0, 0, 0, {opt_zero} NULL, NULL, {counts} FROM firsts"
        )
    return f"""
    WITH cut AS (SELECT cutoff, {_day("cutoff")} AS day FROM cutoffs),
    po AS (
        SELECT customer_id, {_day("ts")} AS day, net, gross, returned,
            {"items," if items else ""} {"discount," if discount else ""}
            CASE WHEN gross > 0 THEN
                epoch(ts - lag(ts) OVER (PARTITION BY customer_id, gross > 0 ORDER BY ts, order_id)) / 86400.0
            END AS gap,
            CASE WHEN gross > 0 THEN (CASE WHEN dayofweek(ts) IN (0, 6) THEN 1.0 ELSE 0.0 END) END AS weekend
        FROM orders
    ),
    first_buy AS (SELECT customer_id, min(day) AS day FROM po WHERE gross > 0 GROUP BY customer_id){firsts_cte},
    stream AS (
        SELECT customer_id, day, 1 AS is_order, NULL::DATE AS cutoff, net, gross, returned,
            {"items," if items else ""} {"discount," if discount else ""} gap, weekend{zero_new}
        FROM po
        UNION ALL
        SELECT f.customer_id, c.day, 0, c.cutoff, 0, 0, 0, {"0," if items else ""} {"0," if discount else ""}
            NULL, NULL{zero_new}
        FROM first_buy f JOIN cut c ON f.day <= c.day
        {firsts_rows}
    ),
    run AS (
        SELECT customer_id, cutoff, day, is_order,
            sum({buy}) {cum} AS frequency,
            max(CASE WHEN gross > 0 THEN day END) {cum} AS last_buy_day,
            min(CASE WHEN gross > 0 THEN day END) {cum} AS first_buy_day,
            sum(CASE WHEN gross > 0 THEN gross ELSE 0 END) {cum} AS gross_purchases,
            {f"sum(CASE WHEN gross > 0 THEN items ELSE 0 END) {cum} AS items," if items else ""}
            avg(gap) {cum} AS gap_mean_days, stddev_samp(gap) {cum} AS gap_std_days,
            avg(weekend) {cum} AS weekend_share,
            {", ".join(win)},
            sum({buy}) {frame(179, 90)} AS orders_prev_90d,
            sum({buy}) {frame(364, 365 - h) if h < 365 else frame(364, 0)} AS orders_same_window_last_year,
            {season} AS same_season_buys,
            sum(net) {cum} AS monetary, sum(gross) {cum} AS gross, sum(returned) {cum} AS returned,
            {f"sum(discount) {cum} AS discount," if discount else ""}
            sum(net) {frame(179, 90)} AS revenue_prev_90d{new_counts}
        FROM stream
    ),
    m AS (SELECT * FROM run WHERE is_order = 0)
    SELECT cutoff, customer_id,
        CAST(day - last_buy_day AS DOUBLE) AS recency_days,
        CAST(frequency AS DOUBLE) AS frequency,
        monetary,
        monetary / frequency AS monetary_mean,
        CAST(day - first_buy_day AS DOUBLE) AS tenure_days,
        {", ".join(f"CAST(orders_{w}d AS DOUBLE) AS orders_{w}d" for w in WINDOWS)},
        {", ".join(f"coalesce(revenue_{w}d, 0) AS revenue_{w}d" for w in WINDOWS)},
        CAST(orders_90d - coalesce(orders_prev_90d, 0) AS DOUBLE) AS trend_orders_90d,
        coalesce(revenue_90d, 0) - coalesce(revenue_prev_90d, 0) AS trend_revenue_90d,
        CAST(coalesce(orders_same_window_last_year, 0) AS DOUBLE) AS orders_same_window_last_year,
        gap_mean_days, gap_std_days,
        (day - last_buy_day) / nullif(gap_mean_days, 0) AS recency_over_gap,
        gross_purchases / frequency AS mean_order_value,
        {"items / frequency AS items_per_order," if items else ""}
        returned / nullif(gross, 0) AS return_rate,
        {"discount / nullif(gross, 0) AS discount_share," if discount else ""}
        weekend_share, same_season_buys / frequency AS same_season_share,
        CAST(month(cutoff) AS DOUBLE) AS cutoff_month{"".join(f", CAST({n} AS DOUBLE) AS {n}" for n in names)}
    FROM m
    """


def _extra_tables(con: duckdb.DuckDBPyConnection, has_country: bool, has_category: bool) -> tuple[str, str]:
    """Create the country and top-category tables; return (joins, select expressions) to add them.

    The country is the mode of the customer's orders up to the cutoff; it is computed per cutoff only
    for customers whose orders have more than one country (or a missing one), per customer otherwise.
    """
    joins, cols = "", ""
    if has_country:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE running_country AS
            SELECT customer_id, any_value(country) AS one_country,
                   count(DISTINCT country) > 1 OR count(country) < count(*) AS mixed
            FROM orders GROUP BY customer_id"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE running_country_mixed AS
            WITH counts AS (
                SELECT c.cutoff, o.customer_id, o.country, count(*) AS n
                FROM orders o SEMI JOIN (SELECT customer_id FROM running_country WHERE mixed) m USING (customer_id)
                JOIN cutoffs c ON o.ts < c.cutoff + INTERVAL 1 DAY
                WHERE o.country IS NOT NULL GROUP BY ALL
            )
            SELECT cutoff, customer_id, country AS mixed_country FROM (
                SELECT *, row_number() OVER (PARTITION BY cutoff, customer_id ORDER BY n DESC, country) AS r
                FROM counts
            ) WHERE r = 1"""
        )
        joins += (
            " LEFT JOIN running_country USING (customer_id) LEFT JOIN running_country_mixed USING (cutoff, customer_id)"
        )
        cols += ", CASE WHEN mixed THEN mixed_country ELSE one_country END AS country"
    if has_category:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE running_category AS
            SELECT cutoff, customer_id, max(v) / nullif(sum(v), 0) AS top_category_share FROM (
                SELECT c.cutoff, x.customer_id, x.category, sum(x.amount) AS v
                FROM lines x JOIN cutoffs c ON x."timestamp" < c.cutoff + INTERVAL 1 DAY
                WHERE x.amount > 0 GROUP BY ALL
            ) GROUP BY ALL"""
        )
        joins += " LEFT JOIN running_category USING (cutoff, customer_id)"
        cols += ", top_category_share"
    return joins, cols


def running_features(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], *, horizon_days: int) -> pd.DataFrame:
    """The frame `features.customer.customer_features` returns, computed from running sums."""
    cut = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).date})
    lines_cols, orders_cols = set(con.table("lines").columns), set(con.table("orders").columns)
    con.register("cutoffs_df", cut)
    try:
        con.execute("CREATE OR REPLACE TEMP VIEW cutoffs AS SELECT CAST(cutoff AS DATE) AS cutoff FROM cutoffs_df")
        first = con.execute("SELECT CAST(min(ts) AS DATE) FROM orders").fetchone()[0]
        max_age = (max(cut["cutoff"]) - first).days if first is not None else 0
        con.execute(
            "CREATE OR REPLACE TEMP TABLE running_features AS "
            + running_sql(horizon_days, lines_cols, orders_cols, max_age)
        )
        joins, cols = _extra_tables(con, "country" in orders_cols, "category" in lines_cols)
        df = con.execute(f"SELECT r.*{cols} FROM running_features r{joins} ORDER BY cutoff, customer_id").df()
    finally:
        con.unregister("cutoffs_df")
        for t in ("running_features", "running_country", "running_country_mixed", "running_category"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    order = [f.name for f in available(lines_cols)]
    df = df[[*KEYS, *order]]
    numeric = df.select_dtypes("number").columns
    df[numeric] = df[numeric].astype(float).round(9)
    df["cutoff"] = pd.to_datetime(df["cutoff"]).dt.date
    df["customer_id"] = df["customer_id"].astype(str)
    if "country" in df:
        df["country"] = df["country"].fillna("unknown").astype(str)
    return df
