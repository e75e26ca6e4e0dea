"""Bulk inserts of a frame: the values pandas' `to_sql` stores, without SQLAlchemy's work per row.

pandas' default insert hands SQLAlchemy one dict per row, and SQLAlchemy compiles the parameters of every
row (`_init_compiled`, `construct_params`): at 3M segment-table rows that was 53 s of a 170 s score. Here
pandas still chooses the column types and creates a missing table (`to_sql` of no rows, with those types)
and still converts the values (`SQLTable.insert_data`: NaN/NaT -> None, numpy scalars -> Python ones,
datetimes -> `datetime`), a batch of rows at a time; each column's SQLAlchemy bind processor (SQLite: a date
-> 'YYYY-MM-DD') is applied once per distinct value; then the driver gets plain tuples:

- SQLite: one `INSERT` with `?` markers, the driver's `executemany` per batch, reading the rows as they are
  made (an error is raised as SQLAlchemy's, without parameters, which `database.database_error` redacts);
- PostgreSQL with psycopg 3: `COPY ... FROM STDIN`, each row written by the driver (adapted as in a query);
  when a column of an existing table has another kind of type than pandas chose (an `INSERT` casts, `COPY`
  parses text and may refuse), the default insert is kept;
- any other database: pandas' default insert, as before.

Why not `to_sql(method=...)`: pandas converts the whole frame before calling it and hands rows, so applying
the processors per column means transposing every batch: 1.45-1.78x the time at 300,000 rows, and the whole
converted frame in memory (docs/performance.md, "The database write of `segment score`").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pandas.io.sql import SQLDatabase, SQLTable  # what `to_sql` runs (`SQLTable` is what its `method=` gets)

ROWS_PER_BATCH = 100_000  # rows converted and sent at a time: bounded memory, negligible calls

Processor = Callable[[Any], Any]


def pandas_table(conn: sa.Connection, name: str, df: pd.DataFrame, schema: str | None, dtype: dict) -> sa.Table:
    """The table `to_sql` would create for `df`: pandas' column types (no database access)."""
    db = SQLDatabase(conn, schema=schema)
    return SQLTable(name, db, frame=df, index=False, if_exists="append", schema=schema, dtype=dtype).table


def insert_frame(conn: sa.Connection, name: str, df: pd.DataFrame, schema: str | None, dtype: dict) -> None:
    """Append the rows of `df` to table `name` in the open transaction, creating it as `to_sql` would."""
    db = SQLDatabase(conn, schema=schema)
    table = pandas_table(conn, name, df, schema, dtype)
    types = {c.name: c.type for c in table.columns}  # pandas' choice for this frame
    df.head(0).to_sql(name, conn, schema=schema, if_exists="append", index=False, dtype=types)  # creates if missing
    write = bulk_writer(conn, table)
    if write is None:  # pandas' default insert, as before
        df.to_sql(name, conn, schema=schema, if_exists="append", index=False, chunksize=10_000, dtype=dtype)
        return
    write(conn, table, batches(db, name, df, schema, dtype, column_processors(table, df, conn.dialect)))


def bulk_writer(conn: sa.Connection, table: sa.Table) -> Callable | None:
    """The bulk path for this database and table, or None where only pandas' default insert is safe."""
    dialect = conn.dialect
    if dialect.name == "sqlite":
        return _sqlite_executemany
    if dialect.name == "postgresql" and dialect.driver == "psycopg" and same_type_kinds(conn, table):
        return _postgres_copy
    return None


def batches(
    db: SQLDatabase, name: str, df: pd.DataFrame, schema: str | None, dtype: dict, processors: list[Processor | None]
) -> Iterator[Iterator[tuple]]:
    """The rows of `df` as the driver takes them (tuples, made as it reads them), `ROWS_PER_BATCH` at a time."""
    for start in range(0, len(df), ROWS_PER_BATCH):
        part = df.iloc[start : start + ROWS_PER_BATCH]
        _, columns = SQLTable(name, db, frame=part, index=False, schema=schema, dtype=dtype).insert_data()
        for i, proc in enumerate(processors):
            if proc is not None:
                columns[i] = map_distinct(proc, columns[i])
        yield zip(*columns, strict=True)


def column_processors(table: sa.Table, df: pd.DataFrame, dialect: sa.Dialect) -> list[Processor | None]:
    """Per column, SQLAlchemy's bind processor for its type on this dialect, or None where it does nothing.

    A float column's processor (SQLite: `float(v)`) is skipped: pandas hands Python floats or None, which it
    returns unchanged.
    """
    out: list[Processor | None] = []
    for column in table.columns:
        proc = column.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None and isinstance(column.type, sa.Float) and df[column.name].dtype.kind == "f":
            proc = None
        out.append(proc)
    return out


def map_distinct(proc: Processor, values) -> list:
    """`[proc(v) for v in values]`, calling `proc` once per distinct value (a date column has few)."""
    try:
        once = {v: proc(v) for v in set(values)}
    except TypeError:  # an unhashable value: call per value
        return [proc(v) for v in values]
    return list(map(once.__getitem__, values))


def _columns(conn: sa.Connection, table: sa.Table) -> tuple[str, str]:
    quote = conn.dialect.identifier_preparer
    return quote.format_table(table), ", ".join(quote.quote(c.name) for c in table.columns)


def _sqlite_executemany(conn: sa.Connection, table: sa.Table, rows: Iterator[Iterator[tuple]]) -> None:
    import sqlite3  # the driver of this dialect

    target, columns = _columns(conn, table)
    sql = f"INSERT INTO {target} ({columns}) VALUES ({', '.join('?' * len(table.columns))})"
    cur = conn.connection.driver_connection.cursor()
    try:
        for batch in rows:
            cur.executemany(sql, batch)
    except sqlite3.Error as e:  # as SQLAlchemy raises it, without parameters (ids, scores)
        raise sa.exc.DBAPIError.instance(sql, None, e, sqlite3.Error) from e
    finally:
        cur.close()


def _postgres_copy(conn: sa.Connection, table: sa.Table, rows: Iterator[Iterator[tuple]]) -> None:
    import psycopg  # the driver of this dialect

    target, columns = _columns(conn, table)
    sql = f"COPY {target} ({columns}) FROM STDIN"
    try:
        with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
            for batch in rows:
                for row in batch:
                    copy.write_row(row)
    except psycopg.Error as e:  # as SQLAlchemy raises it, without parameters (ids, scores)
        raise sa.exc.DBAPIError.instance(sql, None, e, psycopg.Error) from e


def same_type_kinds(conn: sa.Connection, table: sa.Table) -> bool:
    """Whether the stored table's columns have the kinds of type pandas chose (so COPY stores what INSERT would)."""
    stored = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table.name, schema=table.schema)}
    return all(c.name in stored and stored[c.name]._type_affinity is c.type._type_affinity for c in table.columns)
