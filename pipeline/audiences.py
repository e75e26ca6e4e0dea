"""Named audiences: a typed filter from config compiled to parameterised SQL over the segment table.

Each condition of an `AudienceFilter` becomes one SQL predicate whose values are `?` parameters; the
only names pasted into SQL are segment-table columns that exist in the table (validated identifiers,
quoted) and relation names chosen by code. The compiled conditions are evaluated side by side in one
query, so `--explain` can say how many customers each condition removed, both in order and alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from pandas.api.types import is_numeric_dtype

from segment.config import AudienceFilter, ColumnCondition, Config
from segment.errors import ConfigError, InputError
from segment.schema import CUSTOMER_ID, EXPORT_COLUMNS, SCORE_DATE


@dataclass(frozen=True)
class Condition:
    """One predicate over `s` (the segment table) and `t` (per-customer order stats), with its parameters."""

    label: str
    sql: str
    params: tuple


@dataclass
class Audience:
    """The members (segment-table rows) of one audience at one date, and what each condition removed."""

    name: str
    when: date
    members: pd.DataFrame
    explain: pd.DataFrame


def _placeholders(values) -> str:
    return ", ".join("?" for _ in values)


def _column(name: str, cond: ColumnCondition, table: pd.DataFrame, audience: str) -> list[Condition]:
    if name not in table.columns:
        raise ConfigError(
            f"audience {audience!r}: unknown column {name!r} in `columns`; the segment table has: "
            f"{', '.join(table.columns)}"
        )
    numeric = is_numeric_dtype(table[name])
    quoted = f's."{name}"'
    out = []

    def values(vals: list, key: str) -> tuple:
        if not numeric:
            return tuple(str(v) for v in vals)
        bad = [v for v in vals if isinstance(v, str)]
        if bad:
            raise ConfigError(f"audience {audience!r}: column {name!r} is numeric but `{key}` lists text {bad[:3]}")
        return tuple(float(v) for v in vals)

    if cond.in_ is not None:
        out.append(
            Condition(
                f"{name} in {_text(cond.in_)}", f"{quoted} IN ({_placeholders(cond.in_)})", values(cond.in_, "in")
            )
        )
    if cond.not_in is not None:
        out.append(
            Condition(
                f"{name} not in {_text(cond.not_in)}",
                f"{quoted} NOT IN ({_placeholders(cond.not_in)})",
                values(cond.not_in, "not_in"),
            )
        )
    for bound, op in (("min", ">="), ("max", "<=")):
        limit = getattr(cond, bound)
        if limit is None:
            continue
        if not numeric:
            raise ConfigError(f"audience {audience!r}: column {name!r} holds text; `{bound}` needs a numeric column")
        out.append(Condition(f"{name} {op} {_text(limit)}", f"{quoted} {op} ?", (float(limit),)))
    return out


def _text(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(_text, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(label: str, expr: str, rng) -> list[Condition]:
    out = []
    if rng.min is not None:
        out.append(Condition(f"{label} >= {_text(rng.min)}", f"{expr} >= ?", (rng.min,)))
    if rng.max is not None:
        out.append(Condition(f"{label} <= {_text(rng.max)}", f"{expr} <= ?", (rng.max,)))
    return out


def compile_filter(
    f: AudienceFilter, table: pd.DataFrame, when: date, name: str, lines: str = "lines"
) -> list[Condition]:
    """The filter's conditions, in config order, as parameterised SQL predicates."""
    conds: list[Condition] = []
    for column, cond in f.columns.items():
        conds += _column(column, cond, table, name)
    if f.countries:
        conds.append(
            Condition(
                f"country in {_text(f.countries)}", f"t.country IN ({_placeholders(f.countries)})", tuple(f.countries)
            )
        )
    since = when - timedelta(days=f.bought_within_days - 1) if f.bought_within_days else None
    window = f" within the last {f.bought_within_days} days" if since else ""
    for key, column in (("products", "product_id"), ("categories", "category")):
        wanted = getattr(f, key)
        if not wanted:
            continue
        sql = (
            f"s.customer_id IN (SELECT customer_id FROM {lines} WHERE amount > 0 AND {column} IN "
            f'({_placeholders(wanted)}) AND "timestamp" < CAST(? AS DATE) + INTERVAL 1 DAY'
        )
        params: tuple = (*map(str, wanted), when)
        if since:
            sql += ' AND "timestamp" >= CAST(? AS DATE)'
            params += (since,)
        conds.append(Condition(f"bought {key} {_text(wanted)}{window}", sql + ")", params))
    if f.order_value:
        conds += _range("mean order value", "t.mean_order_value", f.order_value)
    if f.orders:
        conds += _range("orders", "t.orders", f.orders)
    if f.first_order:
        conds += _range("first order", "t.first_order", f.first_order)
    if f.last_order:
        conds += _range("last order", "t.last_order", f.last_order)
    return conds


def needs_history(f: AudienceFilter) -> bool:
    """Whether the filter looks at order lines or orders (else the segment table alone answers it)."""
    return any(
        getattr(f, k)
        for k in ("countries", "products", "categories", "order_value", "orders", "first_order", "last_order")
    )


def evaluate_sql(conds: list[Condition], seg: str = "seg", orders: str | None = "orders", country: bool = True) -> str:
    """One row per scored customer: its id and one boolean column `c{i}` per condition (NULL counts as false).

    Parameters: the date (only with `orders`), then each condition's parameters in order. Without `orders`
    the conditions may only use the segment table.
    """
    flags = "".join(f", coalesce(({c.sql}), false) AS c{i}" for i, c in enumerate(conds))
    if orders is None:
        return f"SELECT s.customer_id{flags} FROM {seg} s ORDER BY s.customer_id"
    country_col = ", mode(country ORDER BY country) AS country" if country else ", NULL AS country"
    return f"""WITH t AS (
            SELECT customer_id, CAST(min(ts) AS DATE) AS first_order, CAST(max(ts) AS DATE) AS last_order,
                   count(*) AS orders, avg(gross) AS mean_order_value{country_col}
            FROM {orders} WHERE gross > 0 AND ts < CAST(? AS DATE) + INTERVAL 1 DAY GROUP BY customer_id)
        SELECT s.customer_id{flags} FROM {seg} s LEFT JOIN t ON t.customer_id = s.customer_id
        ORDER BY s.customer_id"""


def explain_frame(flags: pd.DataFrame, conds: list[Condition]) -> pd.DataFrame:
    """Per condition: customers left after it (in order), removed by it in order, and removed by it alone."""
    n = len(flags)
    keep = pd.Series(True, index=flags.index)
    rows = [{"condition": "scored at the date", "customers_left": n, "removed": 0, "removed_alone": 0}]
    for i, c in enumerate(conds):
        col = flags[f"c{i}"].astype(bool)
        before = int(keep.sum())
        keep &= col
        rows.append(
            {
                "condition": c.label,
                "customers_left": int(keep.sum()),
                "removed": before - int(keep.sum()),
                "removed_alone": int((~col).sum()),
            }
        )
    return pd.DataFrame(rows)


def select(con: duckdb.DuckDBPyConnection, table: pd.DataFrame, f: AudienceFilter, when: date, name: str) -> Audience:
    """The audience `name` among the segment-table rows `table` scored at `when`.

    `con` holds the clean `lines`/`orders` when the filter needs history (`needs_history`); otherwise any
    DuckDB connection will do.
    """
    conds = compile_filter(f, table, when, name)
    history = needs_history(f)
    country = history and "country" in con.table("orders").columns
    if f.countries and not country:
        raise ConfigError(f"audience {name!r} filters on countries but the orders have no country column")
    ids = table[[CUSTOMER_ID]].astype({CUSTOMER_ID: str})
    con.register("audience_seg", table.drop(columns=[SCORE_DATE], errors="ignore"))
    try:
        params = [when] if history else []
        params += [p for c in conds for p in c.params]
        sql = evaluate_sql(conds, seg="audience_seg", orders="orders" if history else None, country=country)
        flags = con.execute(sql, params).df()
    finally:
        con.unregister("audience_seg")
    flags[CUSTOMER_ID] = flags[CUSTOMER_ID].astype(str)
    mask = flags[[f"c{i}" for i in range(len(conds))]].all(axis=1) if conds else pd.Series(True, index=flags.index)
    chosen = set(flags.loc[mask, CUSTOMER_ID])
    members = table[ids[CUSTOMER_ID].isin(chosen).to_numpy()].sort_values(CUSTOMER_ID).reset_index(drop=True)
    return Audience(name, when, members, explain_frame(flags, conds))


def export_frame(members: pd.DataFrame, attributes: pd.DataFrame | None) -> pd.DataFrame:
    """The columns of an audience export: the per-segment export columns plus only the listed attributes."""
    rows = members[[c for c in EXPORT_COLUMNS if c in members.columns]]
    if attributes is not None and len(attributes.columns) > 1:
        rows = rows.merge(attributes, on=CUSTOMER_ID, how="left")
    return rows.reset_index(drop=True)


def audience_filter(cfg: Config, name: str) -> AudienceFilter:
    """The configured filter of `name`, or a clear error listing the configured names."""
    if name not in cfg.audiences:
        known = ", ".join(sorted(cfg.audiences)) or "none configured (add `audiences:` to the config)"
        raise ConfigError(f"unknown audience {name!r}; configured audiences: {known}")
    return cfg.audiences[name]


def scored_dates(root: Path) -> list[date]:
    """Score dates with a segment-table partition under `root`."""
    folder = Path(root) / "segment_table"
    return sorted(
        date.fromisoformat(d.name.split("=", 1)[1])
        for d in folder.glob("score_date=*")
        if (d / "part-0.parquet").exists()
    )


def read_segment_table(root: Path, when: date | None) -> tuple[date, pd.DataFrame]:
    """The segment table at `when` (default: the latest score date), as `segment score` wrote it."""
    dates = scored_dates(root)
    if when is None:
        if not dates:
            raise InputError(f"no segment table under {root}: run `segment score` first")
        when = dates[-1]
    path = Path(root) / "segment_table" / f"score_date={when.isoformat()}" / "part-0.parquet"
    if not path.exists():
        have = ", ".join(map(str, dates[-5:])) or "none"
        raise InputError(f"no segment table scored at {when} (latest: {have}); run `segment score --date {when}`")
    table = pd.read_parquet(path)
    table.insert(1, SCORE_DATE, when)
    table[CUSTOMER_ID] = table[CUSTOMER_ID].astype(str)
    return when, table
