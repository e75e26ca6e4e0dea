"""Expression rewrite rules of the DuckDB -> Spark translation: what SQLGlot translates wrongly or not at all.

Each rule takes one node and returns it unchanged or rewritten; docs/spark.md says why each exists, and
tests/spark/test_dialect.py checks each one's text and its result on both engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlglot
from sqlglot import exp

Schema = Mapping[str, Sequence[str]]  # table name -> its column names (what some statement rules need)


class UnsupportedSQL(ValueError):
    """A DuckDB construct with no faithful Spark translation: fail loudly rather than compute something else."""


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _double(e: exp.Expression) -> exp.Expression:
    return exp.Cast(this=e.copy(), to=exp.DataType.build("DOUBLE"))


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
