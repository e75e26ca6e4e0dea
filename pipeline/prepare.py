"""Load, validate and clean the transactions into DuckDB tables `lines` and `orders`."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import date

import duckdb

from features.orders import build_orders
from pipeline.clean import DataReport, clean_lines, describe_orders
from pipeline.config import DataConfig
from pipeline.load import load_lines

MEMORY_LIMIT = os.environ.get("SEGMENT_DUCKDB_MEMORY", "1536MB")


def connect(memory_limit: str = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to a temporary folder instead of running out of memory.

    The memory limit bounds DuckDB's buffers (tables, hash aggregates); past it, blocks go to a private
    temporary folder that is removed with the process. `SEGMENT_DUCKDB_MEMORY` overrides the default.
    """
    spill = tempfile.mkdtemp(prefix="segment-duckdb-")
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    con = duckdb.connect(":memory:")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{spill}'")
    return con


def prepare(con: duckdb.DuckDBPyConnection, cfg: DataConfig, *, attributes: bool = False) -> DataReport:
    """Create tables `lines` and `orders` (and `customer_attributes` when asked) in `con`; return the data report."""
    files = load_lines(con, cfg, table="raw_lines")
    report = clean_lines(con, cfg, files, source="raw_lines", table="lines")
    if attributes and cfg.customer_attributes:  # only scoring exports need them: no extra scan otherwise
        latest = ", ".join(f'arg_max("attr__{a}", "timestamp") AS "{a}"' for a in cfg.customer_attributes)
        con.execute(
            f"""CREATE OR REPLACE TABLE customer_attributes AS SELECT customer_id, {latest}
            FROM raw_lines WHERE customer_id IS NOT NULL GROUP BY customer_id"""
        )
    con.execute("DROP VIEW raw_lines")
    build_orders(con, lines="lines", table="orders")
    return describe_orders(con, report, lines="lines", orders="orders")


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """First and last purchase date in the clean data."""
    first, last = con.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM orders WHERE gross > 0").fetchall()[0]
    return first, last
