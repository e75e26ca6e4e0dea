"""Bulk inserts for `DataFrame.to_sql(method=...)`: the same values as pandas' default insert, without its cost.

pandas' default inserts through SQLAlchemy's `executemany` of one dict per row, and SQLAlchemy compiles the
parameters of every row (`_init_compiled`, `construct_params`): at 3M segment-table rows that was 53 s of a
170 s score, sqlite3 itself about 10 s of it (docs/performance.md section 9). The callable here takes the
rows pandas already prepared (NaN/NaT -> None, numpy scalars -> Python ones, datetimes -> `datetime`) and
applies the bind processor of each column's SQLAlchemy type once per distinct value, not once per row, so
every stored value is what the default path stores:

- SQLite: one `INSERT` with `?` markers, `executemany` of plain tuples (through `exec_driver_sql`, so
  errors arrive as SQLAlchemy's, redacted by `database.database_error`);
- PostgreSQL with psycopg 3: `COPY ... FROM STDIN`, rows written by the driver's `write_row` (adapted as in
  a query); when a column of an existing table has another kind of type than pandas would create (an
  `INSERT` casts, `COPY` parses text and may refuse), the default insert is kept;
- anything else: pandas' default insert.

`to_sql` still creates a missing table (same column types) and pandas still converts the values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import pandas as pd
import sqlalchemy as sa

ROWS_PER_BATCH = 100_000  # rows per `executemany` / per processed batch: bounded memory, negligible calls

Processor = Callable[[Any], Any]


def bulk_insert(table: Any, conn: sa.Connection, keys: list[str], data_iter: Iterable[tuple]) -> int:
    """`to_sql(method=bulk_insert)`: insert pandas' prepared rows in bulk; return the number of rows.

    `table` is pandas' `SQLTable` (its `.table` is the `sa.Table` whose column types pandas chose, whose bind
    processors the default insert would apply; its `.frame` the frame being written).
    """
    dialect = conn.dialect
    if dialect.name == "sqlite":
        write = _sqlite_executemany
    elif dialect.name == "postgresql" and dialect.driver == "psycopg" and same_type_kinds(conn, table.table):
        write = _postgres_copy
    else:  # pandas' default (one dict per row through SQLAlchemy), a batch at a time
        it = iter(data_iter)
        return sum(table._execute_insert(conn, keys, batch) for batch in iter(lambda: list(islice(it, ROWS_PER_BATCH)), []))
    rows = processed_rows(data_iter, column_processors(table.table, table.frame, keys, dialect))
    return write(conn, table.table, keys, rows)


def column_processors(
    sa_table: sa.Table, frame: pd.DataFrame, keys: list[str], dialect: sa.Dialect
) -> list[Processor | None]:
    """Per column, SQLAlchemy's bind processor for its type on this dialect, or None where it does nothing.

    A float column's processor (SQLite: `float(v)`) is skipped: pandas hands Python floats or None, which
    it returns unchanged.
    """
    out: list[Processor | None] = []
    for key in keys:
        kind = sa_table.c[key].type
        proc = kind.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None and isinstance(kind, sa.Float) and frame[key].dtype.kind == "f":
            proc = None
        out.append(proc)
    return out


def processed_rows(data_iter: Iterable[tuple], processors: list[Processor | None]) -> Iterator[tuple]:
    """The rows with each column's processor applied, batch by batch (rows as they come when none applies)."""
    if not any(processors):
        yield from data_iter
        return
    it = iter(data_iter)
    while batch := list(islice(it, ROWS_PER_BATCH)):
        columns = list(zip(*batch, strict=True))
        for i, proc in enumerate(processors):
            if proc is not None:
                columns[i] = map_distinct(proc, columns[i])
        yield from zip(*columns, strict=True)


def map_distinct(proc: Processor, values: tuple) -> list:
    """`[proc(v) for v in values]`, calling `proc` once per distinct value (a date column has few)."""
    try:
        once = {v: proc(v) for v in set(values)}
    except TypeError:  # an unhashable value: call per value
        return [proc(v) for v in values]
    return list(map(once.__getitem__, values))


def _sqlite_executemany(conn: sa.Connection, sa_table: sa.Table, keys: list[str], rows: Iterator[tuple]) -> int:
    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(k) for k in keys)
    sql = f"INSERT INTO {quote.format_table(sa_table)} ({columns}) VALUES ({', '.join('?' * len(keys))})"
    n = 0
    while batch := list(islice(rows, ROWS_PER_BATCH)):
        conn.exec_driver_sql(sql, batch)  # tuples go to the driver as they are
        n += len(batch)
    return n


def _postgres_copy(conn: sa.Connection, sa_table: sa.Table, keys: list[str], rows: Iterator[tuple]) -> int:
    import psycopg  # the driver this dialect runs on

    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(k) for k in keys)
    sql = f"COPY {quote.format_table(sa_table)} ({columns}) FROM STDIN"
    n = 0
    try:
        with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    except psycopg.Error as e:  # as SQLAlchemy would raise it; no parameters (ids, scores) attached
        raise sa.exc.DBAPIError.instance(sql, None, e, psycopg.Error) from e
    return n


def same_type_kinds(conn: sa.Connection, sa_table: sa.Table) -> bool:
    """Whether the stored table's columns have the kinds of type pandas chose (so COPY stores what INSERT would)."""
    stored = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(sa_table.name, schema=sa_table.schema)}
    return all(
        c.name in stored and stored[c.name]._type_affinity is c.type._type_affinity
        for c in sa_table.columns
    )
