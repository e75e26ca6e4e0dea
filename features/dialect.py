"""DuckDB SQL -> Spark SQL: SQLGlot's translation plus the rewrites it gets wrong or cannot make.

The feature, cleaning and label SQL is written once, in DuckDB's dialect. `to_spark` parses it with SQLGlot,
applies the rules in `RULES` (each one is listed, with why, in docs/spark.md) and writes Spark SQL. Three of
the rules fix translations that run on Spark but give other numbers (day of week, exact quantiles, decimal
division); the others make statements Spark cannot run at all run with DuckDB's meaning.

Statements that change a table (`DELETE`, `UPDATE ... FROM`, `ALTER TABLE ... DROP/RENAME COLUMN`) become
`CREATE OR REPLACE TABLE t AS SELECT ...` over the old `t`: Spark tables here are session-scoped,
materialised relations (see `spark_engine.SparkEngine`), which cannot be changed in place. DuckDB's `rowid`
reads the column `__rowid` of the companion relation `<table>__rowid` that the engine keeps beside each
table it materialises. Rules that need a table's columns (`UPDATE`, `RENAME COLUMN`) take them from `schema`.

This module imports SQLGlot only; pyspark is never needed to translate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

import sqlglot
from sqlglot import exp

ROWID = "__rowid"  # the engine's row-number column, in relation `<table>__rowid`
Schema = Mapping[str, Sequence[str]]


class UnsupportedSQL(ValueError):
    """A DuckDB construct with no faithful Spark translation: fail loudly rather than compute something else."""


def rowid_relation(table: str) -> str:
    """The companion relation holding `table`'s rows with their `__rowid`."""
    return f"{table}{ROWID}"


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _double(e: exp.Expression) -> exp.Expression:
    return exp.Cast(this=e.copy(), to=exp.DataType.build("DOUBLE"))


# --- rules on expressions: each takes a node and returns its replacement (or the node unchanged) ---------


def rule_string_functions(node: exp.Expression, _: Schema) -> exp.Expression:
    """String functions SQLGlot leaves as they are: strlen -> octet_length, prefix/suffix -> startswith/endswith."""
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        new = {"strlen": "octet_length", "prefix": "startswith", "suffix": "endswith"}.get(name)
        if new:
            return _fn(new, *node.expressions)
    return node


def rule_try_strptime(node: exp.Expression, _: Schema) -> exp.Expression:
    """try_strptime(text, fmt) -> CAST(try_to_timestamp(text, java_fmt) AS TIMESTAMP_NTZ).

    SQLGlot does not know try_strptime. The strftime format is converted by SQLGlot's own mapping (via
    strptime); DuckDB returns a naive TIMESTAMP, so the result is cast to TIMESTAMP_NTZ.
    """
    if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime":
        text, fmt = node.expressions
        if not isinstance(fmt, exp.Literal) or "%z" in fmt.name or "%Z" in fmt.name:
            raise UnsupportedSQL(f"try_strptime needs a literal format without a zone, got {fmt.sql('duckdb')}")
        java = sqlglot.parse_one(f"strptime(x, {fmt.sql('duckdb')})", read="duckdb").sql("spark")
        java_fmt = exp.Literal.string(java[java.index("'") + 1 : java.rindex("'")])
        return exp.Cast(this=_fn("try_to_timestamp", text, java_fmt), to=exp.DataType.build("TIMESTAMP_NTZ"))
    return node


def rule_timezone(node: exp.Expression, _: Schema) -> exp.Expression:
    """timezone(zone, timestamptz) -> CAST(from_utc_timestamp(ts, zone) AS TIMESTAMP_NTZ): the wall clock in zone.

    Exact when the Spark session time zone is UTC, which the engine sets.
    """
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone" and len(node.expressions) == 2:
        zone, ts = node.expressions
        shifted = _fn("from_utc_timestamp", exp.Cast(this=ts, to=exp.DataType.build("TIMESTAMP")), zone)
        return exp.Cast(this=shifted, to=exp.DataType.build("TIMESTAMP_NTZ"))
    return node


def rule_day_of_week(node: exp.Expression, _: Schema) -> exp.Expression:
    """Day of week: DuckDB counts 0 = Sunday .. 6, Spark 1 = Sunday .. 7; SQLGlot keeps `dayofweek` as it is.

    Silently wrong without this rule: `dayofweek(ts) IN (0, 6)` is Sunday or Saturday on DuckDB, Saturday
    only on Spark.
    """
    if isinstance(node, exp.DayOfWeek):
        return exp.Paren(this=exp.Sub(this=_fn("dayofweek", node.this), expression=exp.Literal.number(1)))
    if isinstance(node, exp.Extract) and node.name.lower() in ("dow", "dayofweek"):
        return exp.Paren(this=exp.Sub(this=_fn("dayofweek", node.expression), expression=exp.Literal.number(1)))
    return node


def rule_mode_order(node: exp.Expression, _: Schema) -> exp.Expression:
    """mode(x ORDER BY x [DESC]) -> mode() WITHIN GROUP (ORDER BY x [DESC]): ties go to the first value in order.

    Spark has no ORDER BY inside mode(); its WITHIN GROUP form breaks ties the same way. An ORDER BY on
    another expression has no Spark equivalent.
    """
    if isinstance(node, exp.Mode) and isinstance(node.this, exp.Order):
        order = node.this
        arg = order.this
        keys = order.expressions
        if len(keys) != 1 or keys[0].this != arg:
            raise UnsupportedSQL(f"mode() ordered by another expression: {node.sql('duckdb')}")
        return exp.WithinGroup(this=_fn("mode"), expression=exp.Order(expressions=[keys[0].copy()]))
    return node


def rule_exact_quantile(node: exp.Expression, _: Schema) -> exp.Expression:
    """quantile_cont(x, q) -> percentile(x, q): exact, linearly interpolated, as DuckDB's.

    SQLGlot writes PERCENTILE_CONT(x, q), which Spark rejects (older SQLGlot: percentile_approx, which runs
    and returns another number).
    """
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return _fn("percentile", node.this, node.expression)
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("quantile_cont", "percentile_approx"):
        return _fn("percentile", *node.expressions)
    if isinstance(node, exp.ApproxQuantile):
        raise UnsupportedSQL("approximate quantiles are not translated: write quantile_cont")
    return node


def rule_epoch(node: exp.Expression, _: Schema) -> exp.Expression:
    """epoch(a - b) -> seconds between two timestamps as a DOUBLE; epoch(ts) -> seconds since 1970 as a DOUBLE.

    SQLGlot writes UNIX_TIMESTAMP(a - b), which Spark rejects (an interval) and which would drop fractions.
    """
    if isinstance(node, exp.TimeToUnix):
        arg = node.this
        if isinstance(arg, exp.Sub):
            micros = _fn("timestampdiff", exp.var("MICROSECOND"), arg.expression, arg.this)
        else:
            micros = _fn("unix_micros", exp.Cast(this=arg, to=exp.DataType.build("TIMESTAMP")))
        return exp.Paren(this=exp.Div(this=_double(micros), expression=exp.Literal.number(1000000)))
    return node


def rule_to_days(node: exp.Expression, _: Schema) -> exp.Expression:
    """Date arithmetic: x + to_days(n) -> timestampadd(DAY, n, x). Spark has no to_days (an interval of n days)."""
    to_days = getattr(exp, "ToDays", ())  # SQLGlot parses it as ToDays
    if isinstance(node, exp.Add):
        for this, other in ((node.this, node.expression), (node.expression, node.this)):
            if isinstance(other, to_days):
                return _fn("timestampadd", exp.var("DAY"), other.this, this)
    if isinstance(node, to_days):
        raise UnsupportedSQL(f"to_days() outside `x + to_days(n)`: {node.sql('duckdb')}")
    return node


def rule_double_division(node: exp.Expression, _: Schema) -> exp.Expression:
    """Division and avg in DOUBLE: a / b -> CAST(a AS DOUBLE) / CAST(b AS DOUBLE), avg(x) -> avg(CAST(x AS DOUBLE)).

    DuckDB's `/` and avg() return DOUBLE for integers and DECIMALs alike; Spark keeps DECIMAL arithmetic and
    rounds it to a fixed scale (avg of 1.0, 0.0, 0.0 is 0.33333 on Spark), silently off by more than 1e-9.
    """
    if isinstance(node, exp.Div):
        return exp.Div(this=_double(node.this), expression=_double(node.expression))
    if isinstance(node, exp.Avg) and not isinstance(node.this, exp.Cast):
        return exp.Avg(this=_double(node.this))
    return node


def rule_types(node: exp.Expression, _: Schema) -> exp.Expression:
    """HUGEINT -> DECIMAL(38, 0) (Spark's widest exact integer); UTINYINT is widened by SQLGlot already."""
    if isinstance(node, exp.DataType) and node.this == exp.DType.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def rule_columns_star(node: exp.Expression, _: Schema) -> exp.Expression:
    """f(*COLUMNS(* EXCLUDE (c))) -> f(* EXCEPT (c)): Spark expands a star inside a function's arguments."""
    if isinstance(node, exp.Columns):
        if not isinstance(node.this, exp.Star):
            raise UnsupportedSQL(f"COLUMNS() with a pattern or lambda: {node.sql('duckdb')}")
        return node.this.copy()
    return node


EXPRESSION_RULES: list[Callable[[exp.Expression, Schema], exp.Expression]] = [
    rule_string_functions,
    rule_try_strptime,
    rule_timezone,
    rule_day_of_week,
    rule_mode_order,
    rule_exact_quantile,
    rule_epoch,
    rule_to_days,
    rule_double_division,
    rule_types,
    rule_columns_star,
]


# --- rules on statements ------------------------------------------------------------------------------


def _columns_of(schema: Schema, table: str, what: str) -> list[str]:
    cols = schema.get(table)
    if not cols:
        raise UnsupportedSQL(f"{what} on table {table!r} needs its columns: pass schema={{{table!r}: [...]}}")
    return list(cols)


def _replace_table(name: str, select: exp.Select) -> exp.Create:
    return exp.Create(this=exp.to_table(name), kind="TABLE", replace=True, expression=select)


def rule_delete(stmt: exp.Expression, _: Schema) -> exp.Expression:
    """DELETE FROM t WHERE p -> CREATE OR REPLACE TABLE t AS SELECT * FROM t WHERE NOT coalesce(p, FALSE)."""
    if isinstance(stmt, exp.Delete):
        table = stmt.this
        where = stmt.args.get("where")
        select = exp.select("*").from_(table.copy())
        if where is not None:
            keep = exp.Not(this=exp.Paren(this=exp.func("coalesce", where.this.copy(), exp.false())))
            select = select.where(keep)
        return _replace_table(table.name, select)
    return stmt


def rule_alter(stmt: exp.Expression, schema: Schema) -> exp.Expression:
    """ALTER TABLE t DROP COLUMN c / RENAME COLUMN a TO b -> CREATE OR REPLACE TABLE t AS SELECT ... FROM t."""
    if isinstance(stmt, exp.Alter) and len(stmt.args.get("actions") or []) == 1:
        table = stmt.this.name
        action = stmt.args["actions"][0]
        if isinstance(action, exp.Drop) and str(action.args.get("kind", "")).upper() == "COLUMN":
            cols = [c.copy() for c in action.args.get("tables") or []]
            star = exp.Star(except_=cols)
            return _replace_table(table, exp.select(star).from_(table))
        if isinstance(action, exp.RenameColumn):
            old, new = action.this.name, action.args["to"].name
            projection = [
                exp.alias_(exp.column(c, quoted=True), new, quoted=True) if c == old else exp.column(c, quoted=True)
                for c in _columns_of(schema, table, "RENAME COLUMN")
            ]
            return _replace_table(table, exp.select(*projection).from_(table))
    return stmt


def rule_update_from(stmt: exp.Expression, schema: Schema) -> exp.Expression:
    """UPDATE t o SET c = m.x FROM m WHERE cond -> CREATE OR REPLACE TABLE t AS SELECT ... t o LEFT JOIN m ON cond.

    Matched rows take the new values, others keep theirs; each target row must match at most one source row
    (as in DuckDB, where several matches make the result arbitrary; here they would repeat the row).
    """
    if isinstance(stmt, exp.Update):
        target = stmt.this
        table = target.name
        alias = target.alias_or_name
        source = stmt.args.get("from_") or stmt.args.get("from")
        if source is None:
            raise UnsupportedSQL("UPDATE without FROM is not translated")
        src_table = source.this
        src_alias = src_table.alias_or_name
        flag = "__matched"
        bare = src_table.copy()
        bare.set("alias", None)
        flagged = exp.select("*", exp.alias_(exp.true(), flag)).from_(bare)
        src = exp.Subquery(this=flagged, alias=exp.TableAlias(this=exp.to_identifier(src_alias)))
        sets = {eq.this.name: eq.expression for eq in stmt.expressions}
        projection = []
        for c in _columns_of(schema, table, "UPDATE"):
            old = exp.column(c, table=alias, quoted=True)
            if c in sets:
                matched = exp.column(flag, table=src_alias)
                value = exp.Case(ifs=[exp.If(this=matched, true=sets[c].copy())], default=old)
                projection.append(exp.alias_(value, c, quoted=True))
            else:
                projection.append(old)
        where = stmt.args.get("where")
        on = where.this.copy() if where is not None else exp.true()
        select = exp.select(*projection).from_(target.copy()).join(src, on=on, join_type="LEFT")
        return _replace_table(table, select)
    return stmt


def rule_create(stmt: exp.Expression, _: Schema) -> exp.Expression:
    """CREATE VIEW -> CREATE TEMPORARY VIEW; CREATE TEMP TABLE -> CREATE TABLE.

    A Spark view over session relations must be temporary; a TEMP TABLE stays a TABLE, which the engine
    materialises (SQLGlot would make it a lazy view).
    """
    if isinstance(stmt, exp.Create):
        kind = str(stmt.args.get("kind", "")).upper()
        props = stmt.args.get("properties")
        if props is not None:
            for p in list(props.expressions):
                if isinstance(p, exp.TemporaryProperty):
                    p.pop()
            if not props.expressions:
                stmt.set("properties", None)
        if kind == "VIEW":
            stmt.set("properties", exp.Properties(expressions=[exp.TemporaryProperty()]))
    return stmt


def _union_branches(node: exp.Expression) -> list[exp.Select]:
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return [*_union_branches(node.this), *_union_branches(node.expression)]
    if isinstance(node, exp.Select):
        return [node]
    raise UnsupportedSQL(f"UNION BY NAME of a non-SELECT: {node.sql('duckdb')[:80]}")


def rule_union_by_name(stmt: exp.Expression, _: Schema) -> exp.Expression:
    """UNION [ALL] BY NAME of SELECTs with named columns -> a positional UNION (Spark SQL has no BY NAME).

    Each side's columns are put in the order of first appearance; a column a side lacks is NULL there.
    """
    for union in list(stmt.find_all(exp.Union)):
        if not union.args.get("by_name"):
            continue
        branches = _union_branches(union)
        names: list[str] = []
        for b in branches:
            for e in b.expressions:
                if isinstance(e, exp.Star) or not e.alias_or_name:
                    raise UnsupportedSQL("UNION BY NAME needs every column named on every side")
                if e.alias_or_name not in names:
                    names.append(e.alias_or_name)
        aligned = []
        for b in branches:
            by = {e.alias_or_name: e for e in b.expressions}
            b = b.copy()
            b.set("expressions", [by[n].copy() if n in by else exp.alias_(exp.null(), n, quoted=True) for n in names])
            aligned.append(b)
        out = aligned[0]
        for b in aligned[1:]:
            out = exp.Union(this=out, expression=b, distinct=union.args.get("distinct"))
        if union is stmt:
            return out
        union.replace(out)
    return stmt


def rule_rowid(stmt: exp.Expression, _: Schema) -> exp.Expression:
    """DuckDB's rowid -> `__rowid` of the engine's `<table>__rowid` relation, in each SELECT reading one table."""
    for select in list(stmt.find_all(exp.Select)):
        refs = [
            c
            for c in select.find_all(exp.Column)
            if c.name.lower() == "rowid" and not c.table and c.find_ancestor(exp.Select) is select
        ]
        if not refs:
            continue
        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is None or select.args.get("joins") or not isinstance(from_.this, exp.Table):
            raise UnsupportedSQL("rowid is translated only in a SELECT (or DELETE) reading one table")
        table = from_.this
        name = table.name
        from_.set(
            "this",
            exp.Table(
                this=exp.to_identifier(rowid_relation(name)),
                alias=exp.TableAlias(this=exp.to_identifier(table.alias_or_name)),
            ),
        )
        for c in refs:
            c.replace(exp.column(ROWID))
        if any(isinstance(e, exp.Star) for e in select.expressions):
            select.set(
                "expressions",
                [exp.Star(except_=[exp.column(ROWID)]) if isinstance(e, exp.Star) else e for e in select.expressions],
            )
    return stmt


STATEMENT_RULES: list[Callable[[exp.Expression, Schema], exp.Expression]] = [
    rule_delete,
    rule_alter,
    rule_update_from,
    rule_create,
    rule_union_by_name,
    rule_rowid,
]
RULES = [*STATEMENT_RULES, *EXPRESSION_RULES]


def _literal(value: object) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")), to=exp.DataType.build("TIMESTAMP"))
    if isinstance(value, date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
    return exp.Literal.string(str(value))


def _bind(stmt: exp.Expression, params: Sequence[object]) -> exp.Expression:
    """Replace the positional `?` placeholders by literals, in order."""
    holders = [p for p in stmt.find_all(exp.Placeholder, bfs=False) if not p.name or p.name == "?"]  # text order
    if len(holders) != len(params):
        raise UnsupportedSQL(f"{len(holders)} placeholder(s) but {len(params)} parameter(s)")
    for holder, value in zip(holders, params, strict=True):
        holder.replace(_literal(value))
    return stmt


def translate(sql: str, schema: Schema | None = None, params: Sequence[object] = ()) -> exp.Expression:
    """The parsed statement with every rule applied (still a SQLGlot tree; write it with `.sql("spark")`)."""
    schema = schema or {}
    try:
        stmt = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise UnsupportedSQL(f"cannot parse as DuckDB SQL: {e}") from None
    if params:
        stmt = _bind(stmt, params)
    for rule in STATEMENT_RULES:
        stmt = rule(stmt, schema)
    for rule in EXPRESSION_RULES:
        stmt = stmt.transform(lambda node, rule=rule: rule(node, schema), copy=False)
    return stmt


def to_spark(sql: str, schema: Schema | None = None, params: Sequence[object] = ()) -> str:
    """Spark SQL with the meaning of the DuckDB statement `sql`.

    `schema` gives table -> columns where a rule needs them, `params` the values of the `?` placeholders.
    """
    return translate(sql, schema, params).sql("spark")
