"""Load, validate and clean the transactions into DuckDB tables `lines` and `orders` (the edge step)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date

import duckdb

from segment.config import DataConfig
from segment.features.engine import DuckDBEngine
from segment.features.orders import build_orders
from segment.pipeline.clean import DataReport, clean_lines, describe_orders
from segment.pipeline.load import load_lines
from segment.pipeline.safe_input import memory_setting

MEMORY_ENV = "SEGMENT_DUCKDB_MEMORY"
MIB = 2**20
# DuckDB's share of a 7 GiB process budget (issue 20: peak under 8 GiB) is what the Python side leaves: about
# 0.75 GiB (interpreter, libraries) plus the feature table in pandas, which grows with the input (measured:
# ~16 bytes per line). The floor was 1536MB for a 3.5 GiB budget until a 100M-line score ran out of memory
# there in its feature query (an operator that cannot spill); at 100M lines DuckDB now gets 4 GiB.
BUDGET_MIB, PYTHON_MIB, PYTHON_BYTES_PER_LINE = 7168, 768, 16
MIN_MEMORY_MIB, MAX_MEMORY_MIB = 3072, 4096
# Deleting duplicate lines leaves 8 bytes of version info per line in memory that cannot spill (100M lines:
# ~800MB of a 1536MB limit, and orders ran out of memory). A checkpoint folds the deletes into the table and
# compresses it; it costs ~0.4 s per million lines, more than it saves below this size.
CHECKPOINT_LINES = 20_000_000


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to a temporary folder instead of running out of memory.

    The memory limit bounds DuckDB's buffers (tables, hash aggregates); past it, blocks go to a private
    temporary folder that is removed with the process. `SEGMENT_DUCKDB_MEMORY` fixes it; otherwise it
    starts at 1536MB and `prepare` sizes it to the input (`fit_memory_limit`).
    """
    spill = tempfile.mkdtemp(prefix="segment-duckdb-")
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    con = duckdb.connect(":memory:")
    # tables live in a compressed in-memory database: the CHECKPOINT of large inputs then compresses the
    # lines too (100M lines: checkpoint 55 s -> 37 s, the whole run 237 s -> 218 s at the same peak)
    con.execute("ATTACH ':memory:' AS work (COMPRESS)")
    con.execute("USE work")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{memory_setting() or f'{MIN_MEMORY_MIB}MiB'}'")
    con.execute(f"SET temp_directory = '{spill}'")
    return con


def memory_limit_mib(rows: int) -> int:
    """DuckDB's memory limit for an input of `rows` lines, so that the whole process stays under 8 GiB.

    Below the limit a hash aggregate runs in memory; near it, it partitions and spills, which made the
    10-million-line feature run a third slower at 1536MB (DuckDB needs about 1.6 GiB there). Larger inputs
    leave less room, as their feature table takes more of the budget; from about 200 million lines they get
    the floor, 3072MB. Never more than half the machine's memory.
    """
    room = BUDGET_MIB - PYTHON_MIB - rows * PYTHON_BYTES_PER_LINE // MIB
    half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 // MIB
    return max(min(MIN_MEMORY_MIB, half), min(room, MAX_MEMORY_MIB, half))


def fit_memory_limit(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """Size the memory limit to the input, unless `SEGMENT_DUCKDB_MEMORY` fixes it."""
    if not os.environ.get(MEMORY_ENV):
        con.execute(f"SET memory_limit = '{memory_limit_mib(rows)}MiB'")


def prepare(con: duckdb.DuckDBPyConnection, cfg: DataConfig, *, attributes: bool = False) -> DataReport:
    """Create tables `lines` and `orders` (and `customer_attributes` when asked) in `con`; return the data report."""
    files = load_lines(con, cfg, table="raw_lines")
    fit_memory_limit(con, sum(f.rows for f in files))
    report = clean_lines(con, cfg, files, source="raw_lines", table="lines")
    if report.rows_out > CHECKPOINT_LINES:
        con.execute("CHECKPOINT")
    if attributes and cfg.customer_attributes:  # only scoring exports need them: no extra scan otherwise
        latest = ", ".join(f'arg_max("attr__{a}", "timestamp") AS "{a}"' for a in cfg.customer_attributes)
        con.execute(
            f"""CREATE OR REPLACE TABLE customer_attributes AS SELECT customer_id, {latest}
            FROM raw_lines WHERE customer_id IS NOT NULL GROUP BY customer_id"""
        )
    con.execute("DROP VIEW raw_lines")
    build_orders(DuckDBEngine(con), lines="lines", table="orders")
    return describe_orders(con, report, lines="lines", orders="orders")


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """First and last purchase date in the clean data."""
    first, last = con.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM orders WHERE gross > 0").fetchall()[0]
    return first, last


@dataclass(frozen=True)
class Prepared:
    """Clean `lines` and `orders` in an engine, with the data report and the span of purchase dates."""

    engine: DuckDBEngine
    report: DataReport
    first: date
    last: date


def prepare_data(cfg: DataConfig, *, attributes: bool = False) -> Prepared:
    """A fresh in-memory database holding the clean transactions of `cfg` (`prepare` on a new connection)."""
    con = connect()
    report = prepare(con, cfg, attributes=attributes)
    return Prepared(DuckDBEngine(con), report, *data_span(con))
