"""Order lines -> one row per order: the unit most features count."""

from __future__ import annotations

import duckdb


def build_orders(con: duckdb.DuckDBPyConnection, lines: str = "lines", table: str = "orders") -> None:
    """Create `table`: customer_id, order_id, ts, net, gross, returned (+ items, discount, country when mapped).

    An order is a purchase when its gross value is positive; a cancellation invoice has only
    returned value. An order is one order id on one calendar day: lines of the same id on another day
    form another order, so an order never straddles a cutoff (cutoffs are whole days) and no feature
    can see a line from after its cutoff. Its timestamp is its first line's.
    """
    cols = set(con.table(lines).columns)
    optional = ""
    if "quantity" in cols:
        optional += ", sum(greatest(quantity, 0)) AS items"
    if "discount" in cols:
        optional += ", coalesce(sum(discount), 0) AS discount"
    if "country" in cols:
        optional += ", mode(country) AS country"
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
        SELECT customer_id, order_id, min("timestamp") AS ts,
               sum(amount) AS net, sum(greatest(amount, 0)) AS gross, -sum(least(amount, 0)) AS returned{optional}
        FROM {lines} GROUP BY customer_id, order_id, CAST("timestamp" AS DATE)"""
    )
