"""Order lines -> one row per order: the unit most features count."""

from __future__ import annotations

import duckdb


def build_orders(con: duckdb.DuckDBPyConnection, lines: str = "lines", table: str = "orders") -> None:
    """Create `table`: customer_id, order_id, ts, net, gross, returned, items (+ country when mapped).

    An order is a purchase when its gross value is positive; a cancellation invoice has only
    returned value. Its timestamp is its first line's, so an order never straddles a cutoff.
    """
    cols = set(con.table(lines).columns)
    country = ", mode(country) AS country" if "country" in cols else ""
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
        SELECT customer_id, order_id, min("timestamp") AS ts,
               sum(amount) AS net, sum(greatest(amount, 0)) AS gross, -sum(least(amount, 0)) AS returned,
               coalesce(sum(greatest(quantity, 0)), 0) AS items{country}
        FROM {lines} GROUP BY customer_id, order_id"""
    )
