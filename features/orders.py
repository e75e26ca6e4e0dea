"""Order lines -> one row per order: the unit most features count."""

from __future__ import annotations

import duckdb


def build_orders(con: duckdb.DuckDBPyConnection, lines: str = "lines", table: str = "orders") -> None:
    """Create `table`: customer_id, order_id, ts, net, gross, returned (+ items, discount, country when mapped).

    An order is a purchase when its gross value is positive; a cancellation invoice has only
    returned value. An order is one order id on one calendar day: lines of the same id on another day
    form another order, so an order never straddles a cutoff (cutoffs are whole days) and no feature
    can see a line from after its cutoff. Its timestamp is its first line's. Its country is the
    most frequent one of its lines (`mode`; a tie goes to the alphabetically first).
    """
    cols = set(con.table(lines).columns)
    optional = ""
    if "quantity" in cols:
        optional += ", sum(greatest(quantity, 0)) AS items"
    if "discount" in cols:
        optional += ", coalesce(sum(discount), 0) AS discount"
    if "country" in cols:
        # mode() keeps a count per value per group, the costliest aggregate here; almost every order has
        # one country, so its lowest and highest are compared and mode() runs only where they differ
        optional += ", min(country) AS country_lo, max(country) AS country_hi"
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
        SELECT customer_id, order_id, min("timestamp") AS ts,
               sum(amount) AS net, sum(greatest(amount, 0)) AS gross, -sum(least(amount, 0)) AS returned{optional}
        FROM {lines} GROUP BY customer_id, order_id, CAST("timestamp" AS DATE)"""
    )
    if "country" in cols:
        _order_country(con, lines, table)


def _order_country(con: duckdb.DuckDBPyConnection, lines: str, table: str) -> None:
    """Replace `country_lo`/`country_hi` by `country`: the one value, or the lines' `mode` where they differ."""
    same = "country_lo IS NOT DISTINCT FROM country_hi"
    mixed = con.execute(f"SELECT count(*) FROM {table} WHERE NOT ({same})").fetchall()[0][0]
    # where min = max every non-NULL value is that one (all NULL: NULL, as mode gives)
    if mixed:
        key = "o.customer_id = l.customer_id AND o.order_id IS NOT DISTINCT FROM l.order_id"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE order_country_mixed AS
            SELECT l.customer_id, l.order_id, min(l."timestamp") AS ts, mode(l.country ORDER BY l.country) AS country
            FROM {lines} l SEMI JOIN (SELECT customer_id, order_id, ts FROM {table} WHERE NOT ({same})) o
                ON {key} AND CAST(o.ts AS DATE) = CAST(l."timestamp" AS DATE)
            GROUP BY l.customer_id, l.order_id, CAST(l."timestamp" AS DATE)"""
        )
        con.execute(
            f"""UPDATE {table} o SET country_lo = m.country FROM order_country_mixed m
            WHERE o.customer_id = m.customer_id AND o.order_id IS NOT DISTINCT FROM m.order_id AND o.ts = m.ts"""
        )
        con.execute("DROP TABLE order_country_mixed")
    con.execute(f"ALTER TABLE {table} DROP COLUMN country_hi")
    con.execute(f"ALTER TABLE {table} RENAME COLUMN country_lo TO country")
