"""The database side of the outputs: URLs, engines, the rows of a score date, the publications table.

Rows of a date are replaced in the publication's open transaction; table and schema names are validated
identifiers, quoted by SQLAlchemy; errors are reported without their SQL parameters (no customer data).
A table written by an older version gets the columns added since (nullable, in the same transaction), so an
upgrade does not stop the nightly job; a same-named table that is not ours is refused, never altered.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from segment.config import OutputConfig
from segment.pipeline.database_insert import insert_frame, pandas_table
from segment.pipeline.outputs import PublishError
from segment.pipeline.progress import warn
from segment.pipeline.safe_input import redact
from segment.pipeline.safe_paths import sqlite_url
from segment.schema import CUSTOMER_ID, SCORE_DATE


def write_database(frames: dict[str, pd.DataFrame], url: str, score_date: date, schema: str | None = None) -> None:
    """For each table name -> rows: delete the date's rows and insert the new ones, all in one transaction."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            write_rows(conn, frames, score_date, schema)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as e:  # no SQL parameters (ids, scores) shown
        raise PublishError(f"the database write failed: {database_error(e)}") from None
    finally:
        engine.dispose()


DTYPE = {SCORE_DATE: sa.Date()}  # the one type pandas would not infer (a column of `date` objects)
PUBLICATIONS_TABLE = "segment_publications"  # one row per published score run, written in its transaction


DATABASE_FILE = "segments.db"


def database_url(output: OutputConfig) -> str:
    """The configured URL, or the SQLite file `segments.db` in the output root (built by SQLAlchemy)."""
    return output.database_url or sqlite_url(Path(output.root) / DATABASE_FILE)


def create_engine(url: str) -> sa.Engine:
    """An engine whose transactions start at BEGIN, DDL included.

    pysqlite would otherwise run DDL (a new table) outside the transaction and take the write lock only at
    the first insert.
    """
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_implicit(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: a locked database fails before commit

    return engine


def database_error(e: BaseException) -> str:
    """A database error without its SQL parameters or quoted values (customer ids, scores)."""
    cause = e.__cause__ if isinstance(e, pd.errors.DatabaseError) and e.__cause__ is not None else e  # pandas wraps
    orig = getattr(cause, "orig", None)
    return f"{type(orig or cause).__name__}: {redact(str(orig or cause))}"


def write_rows(conn: sa.Connection, frames: dict[str, pd.DataFrame], score_date: date, schema: str | None) -> None:
    """In the open transaction of `conn`: delete the date's rows of each table and insert the new ones."""
    for name, df in frames.items():
        if sa.inspect(conn).has_table(name, schema=schema):
            t = sa.Table(name, sa.MetaData(schema=schema), autoload_with=conn)
            add_missing_columns(conn, t, df)
            conn.execute(t.delete().where(t.c.score_date == score_date))
        insert_frame(conn, name, df, schema, dtype=DTYPE)  # pandas' types and values, in bulk


def add_missing_columns(conn: sa.Connection, table: sa.Table, df: pd.DataFrame) -> list[str]:
    """Add the columns of `df` that `table` lacks (nullable: older rows read NULL); return their names.

    Only a table that is recognisably a segment-table output (it has the key columns) is altered; a table of
    the same name without them belongs to something else and the write is refused.
    """
    missing = [c for c in df.columns if c not in table.c]
    if not missing:
        return []
    if CUSTOMER_ID not in table.c or SCORE_DATE not in table.c:
        raise PublishError(
            f"database table {table.name!r} lacks column(s) {missing} and the key columns "
            f"({CUSTOMER_ID}, {SCORE_DATE}): it is not a segment table; point output.table elsewhere"
        )
    quote = conn.dialect.identifier_preparer
    target = quote.format_table(table)
    # the types pandas would give a new table of `df`, so old and new tables agree
    types = {col.name: col.type for col in pandas_table(conn, table.name, df, table.schema, DTYPE).columns}
    for c in missing:
        kind = types[c].compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {target} ADD COLUMN {quote.quote(c)} {kind}")
    warn(f"database table {table.name!r} was written by an older version: added column(s) {', '.join(missing)}")
    return missing


def publications_table(schema: str | None) -> sa.Table:
    """One row per published score run, written in its transaction: whether a publication committed."""
    return sa.Table(
        PUBLICATIONS_TABLE,
        sa.MetaData(schema=schema),
        sa.Column("publication_id", sa.String(32), primary_key=True),
        sa.Column("score_date", sa.Date, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=False),
    )
