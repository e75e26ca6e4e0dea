"""Order lines -> one row per order: the unit most features count."""

from __future__ import annotations

from segment.features.engine import Engine


def _grouped_sql(lines: str, cols: set[str]) -> str:
    optional = ""
    if "quantity" in cols:
        optional += ", sum(greatest(quantity, 0)) AS items"
    if "discount" in cols:
        optional += ", coalesce(sum(discount), 0) AS discount"
    if "country" in cols:
        # mode() keeps a count per value per group, the costliest aggregate here; almost every order has
        # one country, so its lowest and highest are compared and mode() runs only where they differ
        optional += ", min(country) AS country_lo, max(country) AS country_hi"
    return f"""SELECT customer_id, order_id, min("timestamp") AS ts,
               sum(amount) AS net, sum(greatest(amount, 0)) AS gross, -sum(least(amount, 0)) AS returned{optional}
        FROM {lines} GROUP BY customer_id, order_id, CAST("timestamp" AS DATE)"""


def _country_sql(lines: str, grouped: str, mixed: bool) -> str:
    """Orders with `country`: the one value of their lines, or the lines' `mode` where they differ."""
    keep = f"SELECT * EXCLUDE (country_lo, country_hi), country_lo AS country FROM {grouped}"
    if not mixed:  # where min = max every non-NULL value is that one (all NULL: NULL, as mode gives)
        return keep
    same = "g.country_lo IS NOT DISTINCT FROM g.country_hi"
    key = "g.customer_id = l.customer_id AND g.order_id IS NOT DISTINCT FROM l.order_id"
    return f"""WITH m AS (
            SELECT l.customer_id, l.order_id, min(l."timestamp") AS ts, mode(l.country ORDER BY l.country) AS country
            FROM {lines} l SEMI JOIN (SELECT * FROM {grouped} g WHERE NOT ({same})) g
                ON {key} AND CAST(g.ts AS DATE) = CAST(l."timestamp" AS DATE)
            GROUP BY l.customer_id, l.order_id, CAST(l."timestamp" AS DATE))
        SELECT g.* EXCLUDE (country_lo, country_hi), coalesce(m.country, g.country_lo) AS country
        FROM {grouped} g LEFT JOIN m
          ON g.customer_id = m.customer_id AND g.order_id IS NOT DISTINCT FROM m.order_id AND g.ts = m.ts"""


def build_orders(engine: Engine, lines: str = "lines", table: str = "orders") -> None:
    """Create `table`: customer_id, order_id, ts, net, gross, returned (+ items, discount, country when mapped).

    An order is a purchase when its gross value is positive; a cancellation invoice has only
    returned value. An order is one order id on one calendar day: lines of the same id on another day
    form another order, so an order never straddles a cutoff (cutoffs are whole days) and no feature
    can see a line from after its cutoff. Its timestamp is its first line's. Its country is the
    most frequent one of its lines (`mode`; a tie goes to the alphabetically first).
    """
    cols = set(engine.columns(lines))
    if "country" not in cols:
        engine.create_table(table, _grouped_sql(lines, cols))
        return
    grouped = f"{table}_grouped"
    engine.create_table(grouped, _grouped_sql(lines, cols))
    mixed = engine.query(f"SELECT count(*) AS n FROM {grouped} WHERE country_lo IS DISTINCT FROM country_hi")
    engine.create_table(table, _country_sql(lines, grouped, bool(mixed["n"].iloc[0])))
    engine.drop(grouped)
