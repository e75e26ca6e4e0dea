"""A SQL query as a source: streamed through SQLAlchemy in chunks into a DuckDB table.

Values arrive as text, as if from a CSV, so one set of typed checks serves every source: whole-number
floats become integer text (no `17850.0` customer ids) and zoned datetimes keep their offset for the
configured time zone conversion. Only one chunk is ever held as Python objects.
"""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from segment.config import SqlSource
from segment.errors import InputError
from segment.pipeline.safe_input import redact


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | decimal.Decimal) and value == int(value):
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and the data report."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def copy_query(con: duckdb.DuckDBPyConnection, cfg: SqlSource, table: str) -> tuple[str, int]:
    """Run the query and copy its rows into `table` (all VARCHAR); return (source label, rows)."""
    label = f"sql query on {safe_url(cfg.url)}"
    try:
        engine = sa.create_engine(cfg.url)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise InputError(f"cannot use the database URL: {redact(str(e))}", file=label) from None
    rows = 0
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(sa.text(cfg.query))
            columns = list(result.keys())
            con.execute(f"CREATE OR REPLACE TABLE {table} (" + ", ".join(f'"{c}" VARCHAR' for c in columns) + ")")
            for part in result.partitions(cfg.chunk_rows):
                chunk = pa.table({c: [_text(r[i]) for r in part] for i, c in enumerate(columns)})
                con.register("sql_chunk", chunk)
                con.execute(f"INSERT INTO {table} SELECT * FROM sql_chunk")
                con.unregister("sql_chunk")
                rows += len(part)
    except sa.exc.SQLAlchemyError as e:  # driver messages may quote values: the kind and a redacted first line
        kind = type(getattr(e, "orig", None) or e).__name__
        first = redact(str(getattr(e, "orig", e) or e))
        raise InputError(f"the query failed ({kind}): {first} (values hidden)", file=label) from None
    finally:
        engine.dispose()
    if rows == 0:
        raise InputError("the query returned no rows", file=label)
    return label, rows
