"""The store's SQL: new files cleaned by today's rules, duplicates, removed files, orders of changed keys.

New files are staged and cleaned with the rules of a full run, duplicates are removed against what is
stored, removed or changed files are taken out, and the orders of the keys that changed are rebuilt.

Tables of the store (attached as `store`): `lines` (clean columns + `line_hash` + `file_id`), `duplicates`
(the lines dropped as copies of a stored one, same columns: they come back when the file of the stored
copy goes), `orders`, `files`, `file_rules` (lines per file and rule), `attributes` (per file and customer,
the latest value of each contact attribute) and `meta`. The invariant: `lines` plus `duplicates` hold
every kept line of every stored file; `lines` holds each distinct line once, as a full run keeps it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from segment.config import DataConfig
from segment.features.engine import DuckDBEngine
from segment.features.orders import build_orders
from segment.pipeline.clean import DROP_RULE, LINE_HASH, ruled_lines_sql
from segment.pipeline.column_sql import quote_ident
from segment.pipeline.load import SourceFile, load_lines
from segment.schema import LINE_COLUMNS

FILE_ID, RAW, INDEX = "file_id", "store_raw", "source_index"
KEY_ON = (
    "{a}.customer_id = {b}.customer_id AND {a}.order_id IS NOT DISTINCT FROM {b}.order_id "
    'AND CAST({a}."timestamp" AS DATE) = {b}.day'
)


def read_new(con: duckdb.DuckDBPyConnection, cfg: DataConfig, paths: list[str]) -> list[SourceFile]:
    """The view `store_raw` over the new files, checked as a full run checks them (before any transaction)."""
    return load_lines(con, cfg, table=RAW, paths=[Path(p) for p in paths], index_column=INDEX)


def stage(
    con: duckdb.DuckDBPyConnection, cfg: DataConfig, first_id: int, target: str
) -> tuple[list[tuple[str, str]], dict[int, dict[int, int]]]:
    """Write the lines of `store_raw` into `target`, cleaned by today's rules; return the rules and counts.

    Counts are {file_id: {rule number: lines}} (0: kept). The dropped lines are deleted; `target` keeps the
    clean columns, `line_hash` (the same hash as a full run's) and `file_id`.
    """
    cols = {c for c in LINE_COLUMNS if c in con.table(RAW).columns}
    carry = {FILE_ID: f"CAST({INDEX} + {first_id} AS UINTEGER)"}
    sql, rules = ruled_lines_sql(cfg, cols, RAW, carry)
    con.execute(f"CREATE TABLE {target} AS {sql}")
    counts: dict[int, dict[int, int]] = {}
    for file_id, rule, n in con.execute(
        f"SELECT {FILE_ID}, {DROP_RULE}, count(*) FROM {target} GROUP BY ALL"
    ).fetchall():
        counts.setdefault(file_id, {})[rule] = n
    if any(rule for per_file in counts.values() for rule in per_file):
        con.execute(f"DELETE FROM {target} WHERE {DROP_RULE} <> 0")
    con.execute(f"ALTER TABLE {target} DROP COLUMN {DROP_RULE}")
    return rules, counts


def stage_attributes(con: duckdb.DuckDBPyConnection, cfg: DataConfig, first_id: int, target: str) -> None:
    """Per file and customer, each contact attribute's latest non-missing value and its time.

    The latest over all files is then the latest of these (`attributes_sql`): the same `arg_max` a full
    run takes over the raw lines, split by file.
    """
    parts = []
    for a in cfg.customer_attributes:
        parts.append(f'arg_max("attr__{a}", "timestamp") AS "{a}"')
        parts.append(f'max("timestamp") FILTER (WHERE "attr__{a}" IS NOT NULL) AS "{a}__ts"')
    con.execute(
        f"""INSERT INTO {target} SELECT CAST({INDEX} + {first_id} AS UINTEGER) AS {FILE_ID}, customer_id,
        {", ".join(parts)} FROM {RAW} WHERE customer_id IS NOT NULL GROUP BY ALL"""
    )


def attributes_sql(cfg: DataConfig, table: str) -> str:
    """Each customer's latest value of each attribute over all files (what `prepare` builds from raw lines)."""
    latest = ", ".join(f'arg_max("{a}", "{a}__ts") AS "{a}"' for a in cfg.customer_attributes)
    return f"SELECT customer_id, {latest} FROM {table} GROUP BY customer_id"


def line_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The clean columns of a staged or stored lines table (without `line_hash` and `file_id`)."""
    return [quote_ident(c) for c in con.table(table).columns if c not in (LINE_HASH, FILE_ID)]


def _time_range(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A filter on the stored lines that can hold an equal line or a key of `table` (all from the same days).

    Equal lines have equal timestamps: on exports written in time order, DuckDB's zone maps then skip the
    stored history before the new days instead of reading it.
    """
    lo, hi = con.execute(f'SELECT min("timestamp")::DATE, max("timestamp")::DATE + 1 FROM {table}').fetchall()[0]
    if lo is None:
        return "false"
    return f"\"timestamp\" >= DATE '{lo}' AND \"timestamp\" < DATE '{hi}'"


def drop_duplicates(con: duckdb.DuckDBPyConnection, new: str, stored: str | None, duplicates: str) -> None:
    """Move from `new` into `duplicates` every line equal to a stored one or to an earlier line of `new`.

    The same rule as a full run (`clean.drop_duplicate_lines`): only lines whose hash repeats (within the
    new lines, or with a stored line) are compared, in full, by a GROUP BY on every column; a stored line
    always wins (its row number is -1), else the first new one. `stored` None: the store is empty.
    """
    h, cols = LINE_HASH, ", ".join(line_columns(con, new))
    repeats = f"SELECT {h} FROM {new} GROUP BY {h} HAVING count(*) > 1"
    if stored is not None:
        near = _time_range(con, new)
        repeats += f" UNION ALL SELECT {h} FROM {stored} WHERE {near} AND {h} IN (SELECT {h} FROM {new})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE store_candidates AS
        SELECT rowid AS line_rowid, {h}, {cols} FROM {new} WHERE {h} IN ({repeats})"""
    )
    stored_twins = ""
    if stored is not None:
        stored_twins = f""" UNION ALL SELECT -1 AS line_rowid, {h}, {cols} FROM {stored}
            WHERE {near} AND {h} IN (SELECT {h} FROM store_candidates)"""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE store_repeated AS
        SELECT line_rowid FROM store_candidates
        EXCEPT SELECT min(line_rowid) FROM (SELECT * FROM store_candidates{stored_twins}) GROUP BY {cols}"""
    )
    con.execute(f"INSERT INTO {duplicates} SELECT * FROM {new} WHERE rowid IN (SELECT line_rowid FROM store_repeated)")
    con.execute(f"DELETE FROM {new} WHERE rowid IN (SELECT line_rowid FROM store_repeated)")
    con.execute("DROP TABLE store_candidates")
    con.execute("DROP TABLE store_repeated")


def remove_files(con: duckdb.DuckDBPyConnection, gone: list[int], keys: str) -> None:
    """Take the lines of files `gone` out of the store; their keys go into the temp table `keys`.

    A stored line of a removed file whose copy another file also holds (in `duplicates`) stays: that copy
    takes its place, as a full run without the removed file would keep it.
    """
    ids = ", ".join(str(i) for i in gone)
    h, cols = LINE_HASH, ", ".join(line_columns(con, "store.lines"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE store_gone AS SELECT * FROM store.lines WHERE {FILE_ID} IN ({ids})")
    con.execute(
        f"""INSERT INTO {keys} SELECT DISTINCT customer_id, order_id, CAST("timestamp" AS DATE) AS day
        FROM store_gone"""
    )
    # per distinct gone line, the first surviving copy in `duplicates` (count(*) > count(copy): a gone line is in it)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE store_back AS SELECT min(copy) AS copy FROM (
            SELECT {cols}, NULL::BIGINT AS copy FROM store_gone
            UNION ALL SELECT {cols}, rowid AS copy FROM store.duplicates
            WHERE {FILE_ID} NOT IN ({ids}) AND {h} IN (SELECT {h} FROM store_gone)
        ) GROUP BY {cols} HAVING count(*) > count(copy) AND count(copy) > 0"""
    )
    con.execute(f"DELETE FROM store.lines WHERE {FILE_ID} IN ({ids})")
    con.execute("INSERT INTO store.lines SELECT * FROM store.duplicates WHERE rowid IN (SELECT copy FROM store_back)")
    con.execute(f"DELETE FROM store.duplicates WHERE rowid IN (SELECT copy FROM store_back) OR {FILE_ID} IN ({ids})")
    for table in ("files", "file_rules", "attributes"):
        if table == "attributes" and not _exists(con, "store", table):
            continue
        con.execute(f"DELETE FROM store.{table} WHERE {FILE_ID} IN ({ids})")
    con.execute("DROP TABLE store_gone")
    con.execute("DROP TABLE store_back")


def rebuild_orders(con: duckdb.DuckDBPyConnection, keys: str) -> None:
    """Replace the orders of the keys (customer, order id, day) in `keys` by orders built from their lines now.

    An order is built from exactly the lines of its key (`features/orders.py`), so the orders of the other
    keys cannot change; these are built by the same `build_orders` from only their lines.
    """
    near = _day_range(con, keys)
    con.execute(
        f"""DELETE FROM store.orders USING {keys} k WHERE store.orders.customer_id = k.customer_id
        AND store.orders.order_id IS NOT DISTINCT FROM k.order_id AND CAST(store.orders.ts AS DATE) = k.day"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW store_touched_lines AS
        SELECT l.* EXCLUDE ({LINE_HASH}, {FILE_ID}) FROM store.lines l
        SEMI JOIN {keys} k ON {KEY_ON.format(a="l", b="k")} WHERE {near}"""
    )
    build_orders(DuckDBEngine(con), lines="store_touched_lines", table="store.stage_orders")
    con.execute("INSERT INTO store.orders BY NAME SELECT * FROM store.stage_orders")
    con.execute("DROP VIEW store_touched_lines")
    con.execute("DROP TABLE store.stage_orders")


def _day_range(con: duckdb.DuckDBPyConnection, keys: str) -> str:
    lo, hi = con.execute(f"SELECT min(day), max(day) + 1 FROM {keys}").fetchall()[0]
    if lo is None:
        return "false"
    return f"\"timestamp\" >= DATE '{lo}' AND \"timestamp\" < DATE '{hi}'"


def _exists(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [catalog, table]
    ).fetchall()[0][0]
    return bool(found)
