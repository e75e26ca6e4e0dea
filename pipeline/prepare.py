"""Load, validate and clean the transactions into DuckDB tables `lines` and `orders`."""

from __future__ import annotations

from datetime import date

import duckdb

from features.orders import build_orders
from pipeline.clean import DataReport, clean_lines
from pipeline.config import DataConfig
from pipeline.load import load_lines


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to a temporary folder instead of running out of memory."""
    con = duckdb.connect(":memory:")
    con.execute("SET preserve_insertion_order = false")
    return con


def prepare(con: duckdb.DuckDBPyConnection, cfg: DataConfig) -> DataReport:
    """Create tables `lines` and `orders` in `con`; return the data report."""
    files = load_lines(con, cfg, table="raw_lines")
    report = clean_lines(con, cfg, files, source="raw_lines", table="lines")
    con.execute("DROP TABLE raw_lines")
    build_orders(con, lines="lines", table="orders")
    return report


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """First and last purchase date in the clean data."""
    first, last = con.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM orders WHERE gross > 0").fetchall()[0]
    return first, last
