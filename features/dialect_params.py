"""Binding  parameters into a parsed statement as typed SQL literals (Spark's SQL takes no positional ones)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlglot import exp

from segment.features.dialect_rules import (
    UnsupportedSQL,
)


def literal(value: object) -> exp.Expression:
    """A Python value as a SQL literal of its type (dates and timestamps typed, decimals exact)."""
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


def bind(stmt: exp.Expression, params: Sequence[object]) -> exp.Expression:
    """Replace the positional `?` placeholders by literals, in order."""
    holders = [p for p in stmt.find_all(exp.Placeholder, bfs=False) if not p.name or p.name == "?"]  # text order
    if len(holders) != len(params):
        raise UnsupportedSQL(f"{len(holders)} placeholder(s) but {len(params)} parameter(s)")
    for holder, value in zip(holders, params, strict=True):
        holder.replace(literal(value))
    return stmt
