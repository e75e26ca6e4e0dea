"""Customer features at one or many cutoffs, in one query generated from the catalogue.

A cutoff is a date and includes its whole day: features see orders with `ts < cutoff + 1 day` and
nothing later (DESIGN §3). All day counts are whole calendar days between the order's date and the
cutoff date. Every numeric feature is a float, so a missing value is NaN, never a crash in an integer
column. The query reads the relations it is given (the clean `lines`, the `orders` built from them, a
`cutoffs(cutoff DATE)` relation) through an `Engine`, so it runs on any engine that speaks the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from segment.features.catalogue import Feature, aggregates, available
from segment.features.engine import Engine
from segment.schema import CUSTOMER_ID, CUTOFF, KEYS


@dataclass(frozen=True)
class Relations:
    """Names of the relations the feature steps read (`lines` and `orders` as `prepare` builds them)."""

    lines: str = "lines"
    orders: str = "orders"
    cutoffs: str = "cutoffs"


def _before(source: str, ts: str, cutoffs: str) -> str:
    """Rows of `source` at or before each cutoff (the cutoff's whole day included), one copy per cutoff."""
    return f"{source} x JOIN {cutoffs} c ON x.{ts} < c.cutoff + INTERVAL 1 DAY"


def _sources(rel: Relations) -> dict[str, str]:
    """Source name -> SELECT of (cutoff, customer_id, ...) rows that the aggregates of that source reduce."""
    first = 'SELECT customer_id, {col}, min("timestamp") AS first_ts FROM {lines} WHERE amount > 0 GROUP BY ALL'
    line_ts = '"timestamp"'
    return {
        "orders": f"SELECT c.cutoff, x.*, date_diff('day', CAST(x.ts AS DATE), c.cutoff) AS age "
        f"FROM {_before(rel.orders, 'ts', rel.cutoffs)}",
        "purchases": "SELECT *, epoch(ts - lag(ts) OVER (PARTITION BY cutoff, customer_id ORDER BY ts, order_id)) "
        "/ 86400.0 AS gap FROM src_orders WHERE gross > 0",
        # distinct counts from each pair's first purchase, grouped (grouped aggregates spill; DISTINCT does not)
        "products": f"SELECT c.cutoff, x.customer_id FROM ({first.format(col='product_id', lines=rel.lines)}) x "
        f"JOIN {rel.cutoffs} c ON x.first_ts < c.cutoff + INTERVAL 1 DAY",
        "categories": f"SELECT c.cutoff, x.customer_id FROM ({first.format(col='category', lines=rel.lines)}) x "
        f"JOIN {rel.cutoffs} c ON x.first_ts < c.cutoff + INTERVAL 1 DAY",
        "category_value": f"SELECT c.cutoff, x.customer_id, x.category, sum(x.amount) AS v "
        f"FROM {_before(rel.lines, line_ts, rel.cutoffs)} WHERE x.amount > 0 GROUP BY ALL",
    }


def _select(feature: Feature) -> str:
    return f"{feature.sql} AS {feature.name}" if feature.text else f"CAST({feature.sql} AS DOUBLE) AS {feature.name}"


def feature_sql(horizon_days: int, mapped: set[str], rel: Relations = Relations()) -> str:
    """The feature query: one row per (cutoff, customer with a purchase on or before it), catalogue columns.

    `mapped` is the set of canonical input columns the lines carry; features needing others are left out.
    `horizon_days` sets the seasonal windows.
    """
    h = int(horizon_days)
    by_source: dict[str, list[str]] = {}
    for a in aggregates(mapped):
        by_source.setdefault(a.source, []).append(f"{a.sql.format(h=h)} AS {a.name}")
    sources = _sources(rel)
    names = ["orders", "purchases", *(n for n in by_source if n not in ("orders", "purchases"))]
    ctes = [f"src_{n} AS ({sources[n]})" for n in names]  # purchases reads src_orders
    ctes += [
        f"agg_{name} AS (SELECT cutoff, customer_id, {', '.join(cols)} FROM src_{name} GROUP BY cutoff, customer_id)"
        for name, cols in by_source.items()
    ]
    joins = " ".join(f"LEFT JOIN agg_{n} USING (cutoff, customer_id)" for n in by_source if n != "purchases")
    columns = ", ".join(_select(f) for f in available(mapped))
    return (
        f"WITH {', '.join(ctes)} SELECT cutoff, customer_id, {columns} "
        f"FROM agg_purchases {joins} ORDER BY cutoff, customer_id"
    )


def customer_features(
    engine: Engine, cutoffs: Sequence[date], *, horizon_days: int, rel: Relations = Relations()
) -> pd.DataFrame:
    """One row per (cutoff, customer with a purchase on or before the cutoff), columns in catalogue order."""
    engine.register(rel.cutoffs + "_df", pd.DataFrame({CUTOFF: pd.to_datetime(list(cutoffs)).date}))
    engine.create_table(rel.cutoffs, f"SELECT DISTINCT CAST(cutoff AS DATE) AS cutoff FROM {rel.cutoffs}_df")
    mapped = set(engine.columns(rel.lines))
    df = engine.query(feature_sql(horizon_days, mapped, rel))
    numeric = [f.name for f in available(mapped) if not f.text]
    df[numeric] = df[numeric].astype(float).round(9)  # parallel float sums differ in the last bits: not here
    df[CUTOFF] = pd.to_datetime(df[CUTOFF]).dt.date
    df[CUSTOMER_ID] = df[CUSTOMER_ID].astype(str)
    return df


def model_feature_columns(features: pd.DataFrame) -> list[str]:
    """Columns a model consumes: everything but the keys."""
    return [c for c in features.columns if c not in KEYS]
