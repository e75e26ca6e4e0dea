"""The incremental store: clean lines and orders kept in `<output.root>/store/lines.duckdb` between runs.

A run lists the sources as a full run does, reads only new or changed files (`store_files.changes`),
cleans them by the same rules, removes duplicates against what is stored, and rebuilds only the orders
of the keys that changed (`store_update`). The rest of the run reads the store's tables through the views
`lines`, `orders` (and `customer_attributes`) of an in-memory connection, as it reads the tables a full
run builds there. A first run, a changed data config (`store_files.fingerprint`) or `store.rebuild`
builds a new store file beside the old one and renames it over it; an update is one transaction. Either
way a run that dies midway leaves the previous store as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path

import duckdb

from segment.config import Config, DataConfig
from segment.errors import InputError
from segment.features.engine import DuckDBEngine
from segment.features.orders import build_orders
from segment.pipeline import store_update as su
from segment.pipeline.clean import LINE_HASH, DataReport, describe_orders
from segment.pipeline.load import SourceFile, expand_sources
from segment.pipeline.outputs import inside
from segment.pipeline.prepare import CHECKPOINT_LINES, Prepared, connect, fit_memory_limit, prepare_data
from segment.pipeline.progress import info, warn
from segment.pipeline.store_files import Changes, Listed, StoredFile, changes, content_hash, fingerprint
from segment.pipeline.store_lock import StoreLock

STORE, FILE_ID = "store", su.FILE_ID
CLEAN = "store_clean_lines"  # temp view of the stored lines without the store's own columns
ATTEMPTS = 3
_leases: dict[int, weakref.finalize] = {}  # connection id -> the release of its shared lock


def store_path(cfg: Config) -> Path:
    """`<output.root>/store/lines.duckdb` (refusing a path that escapes the root)."""
    return inside(Path(cfg.output.root), "store", "lines.duckdb")


@dataclass
class _State:
    """What an open store says about itself."""

    fingerprint: str
    files: list[StoredFile]


def prepare_stored(cfg: Config, *, attributes: bool = False) -> Prepared:
    """`prepare_data` through the store: the same tables, data report and span, reading only what changed.

    Falls back to cleaning in memory (with a warning) when another run holds the store past
    `store.lock_timeout_seconds`, or when this process still reads it and it must change.
    """
    path = store_path(cfg)
    listed = [Listed.of(p) for p in expand_sources(cfg.data.source)]  # a source matching nothing fails here
    created = next((p for p in (Path(cfg.output.root), path.parent) if not p.exists()), None)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _prepare(cfg, path, listed, attributes)
    except BaseException:
        if created is not None and not path.exists():  # a first run on bad input leaves nothing behind
            shutil.rmtree(created, ignore_errors=True)
        raise


def _prepare(cfg: Config, path: Path, listed: list[Listed], attributes: bool) -> Prepared:
    """Serve the store when it is up to date; else update it under the exclusive lock and look again."""
    wanted = fingerprint(cfg.data)
    lock = StoreLock(path.with_name("lines.lock"))
    timeout = cfg.store.lock_timeout_seconds
    rebuild = cfg.store.rebuild
    con = connect()
    for _ in range(ATTEMPTS):
        if not lock.acquire(shared=True, timeout=timeout):
            return _in_memory(cfg, attributes, f"another run held {path} for {timeout:g} s")
        state = _open(con, path, read_only=True)
        if not rebuild and state is not None and state.fingerprint == wanted:
            if changes(listed, state.files, lambda _p: "").empty:  # unchanged: no hash needed to know
                return _serve(con, cfg, path, listed, lock, attributes)
        _detach(con)
        if lock.read_here():
            lock.release()
            return _in_memory(cfg, attributes, f"this process still reads {path}, which must change")
        if not lock.acquire(shared=False, timeout=timeout):
            return _in_memory(cfg, attributes, f"another run held {path} for {timeout:g} s")
        try:
            _update(con, cfg, path, listed, wanted, rebuild)
        finally:
            lock.release()
        rebuild = False
    return _in_memory(cfg, attributes, f"{path} kept changing under this run")


def _in_memory(cfg: Config, attributes: bool, why: str) -> Prepared:
    warn(f"the store is not used for this run ({why}): cleaning every source file in memory")
    return prepare_data(cfg.data, attributes=attributes)


def _open(con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> _State | None:
    """Attach the store as `store`; its fingerprint and files, or None when there is none (or it is unreadable)."""
    if not path.exists():
        return None
    mode = " (READ_ONLY)" if read_only else ""
    try:
        con.execute(f"ATTACH '{_sql_path(path)}' AS {STORE}{mode}")
    except duckdb.Error as e:
        if not read_only:  # read-only, the exclusive lock's turn decides
            warn(f"the store {path} cannot be opened ({type(e).__name__}): it is rebuilt")
        return None
    try:
        meta = dict(con.execute(f"SELECT key, value FROM {STORE}.meta").fetchall())
        rows = con.execute(f"SELECT file_id, path, size, mtime_ns, content_hash FROM {STORE}.files").fetchall()
    except duckdb.Error:  # a store of an older layout
        return _State("", [])
    return _State(json.loads(meta.get("fingerprint", '""')), [StoredFile(*r) for r in rows])


def _detach(con: duckdb.DuckDBPyConnection) -> None:
    """Detach the store if it is attached (a detach checkpoints it)."""
    attached = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [STORE]).fetchall()
    if attached[0][0]:
        con.execute(f"DETACH {STORE}")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _update(
    con: duckdb.DuckDBPyConnection, cfg: Config, path: Path, listed: list[Listed], wanted: str, rebuild: bool
) -> None:
    """Bring the store up to date with the sources, under the exclusive lock."""
    state = _open(con, path, read_only=False)
    if rebuild or state is None or state.fingerprint != wanted:
        _detach(con)
        why = "--rebuild" if rebuild else "no store yet" if state is None else "the data config or version changed"
        info(f"store: building {path.name} from {len(listed)} file(s) ({why})")
        _build(con, cfg.data, path, listed, wanted)
        return
    ch = changes(listed, state.files)
    if ch.empty:
        _detach(con)
        return
    info(f"store: {len(ch.new)} file(s) to read, {len(ch.gone)} to take out, {len(ch.touched)} touched but equal")
    try:
        done = _append(con, cfg.data, listed, ch)
    finally:
        _detach(con)
    if not done:  # the new files' columns have other types than the stored ones: a full run would differ
        info("store: the new files' column types differ from the stored ones: rebuilding")
        _build(con, cfg.data, path, listed, wanted)


def _create_tables(con: duckdb.DuckDBPyConnection, cfg: DataConfig) -> None:
    con.execute(
        f"""CREATE TABLE {STORE}.files ({FILE_ID} UINTEGER, path VARCHAR, format VARCHAR, size BIGINT,
        mtime_ns BIGINT, content_hash VARCHAR, rows_read BIGINT, rows_kept BIGINT, fingerprint VARCHAR)"""
    )
    con.execute(f"CREATE TABLE {STORE}.file_rules ({FILE_ID} UINTEGER, rule VARCHAR, n BIGINT)")
    con.execute(f"CREATE TABLE {STORE}.meta (key VARCHAR, value VARCHAR)")
    if cfg.customer_attributes:
        parts = ", ".join(f'"{a}" VARCHAR, "{a}__ts" TIMESTAMP' for a in cfg.customer_attributes)
        con.execute(f"CREATE TABLE {STORE}.attributes ({FILE_ID} UINTEGER, customer_id VARCHAR, {parts})")


def _build(con: duckdb.DuckDBPyConnection, cfg: DataConfig, path: Path, listed: list[Listed], wanted: str) -> None:
    """A new store from every listed file, written beside the old one and renamed over it when complete."""
    tmp = path.with_name(path.name + ".tmp")
    for leftover in (tmp, Path(f"{tmp}.wal")):
        leftover.unlink(missing_ok=True)
    files = su.read_new(con, cfg, [f.path for f in listed])
    fit_memory_limit(con, sum(f.rows for f in files))
    con.execute(f"ATTACH '{_sql_path(tmp)}' AS {STORE}")
    try:
        # cleaned straight into the file: staging in memory and copying took as much CPU (10M lines: 12.1 s
        # against 11.3 s) at twice the memory; the cost over a run in memory (6.6 s) is compressing the tables
        _create_tables(con, cfg)
        rules, counts = su.stage(con, cfg, 1, f"{STORE}.lines")
        if cfg.customer_attributes:
            su.stage_attributes(con, cfg, 1, f"{STORE}.attributes")
        con.execute(f"CREATE TABLE {STORE}.duplicates AS SELECT * FROM {STORE}.lines LIMIT 0")
        su.drop_duplicates(con, f"{STORE}.lines", None, f"{STORE}.duplicates")
        if sum(c.get(0, 0) for c in counts.values()) > CHECKPOINT_LINES:
            con.execute(f"CHECKPOINT {STORE}")  # as `prepare`: the deletes' version info must not fill memory
        _clean_view(con)
        build_orders(DuckDBEngine(con), lines=CLEAN, table=f"{STORE}.orders")
        _record_files(con, listed, files, 1, rules, counts, wanted)
        _record_meta(con, rules, wanted)
        con.execute(f"DETACH {STORE}")
    except BaseException:
        _detach(con)
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.execute(f"DROP VIEW IF EXISTS {su.RAW}")
    Path(f"{path}.wal").unlink(missing_ok=True)  # a WAL of the old file must not be replayed into the new one
    os.replace(tmp, path)


def _append(con: duckdb.DuckDBPyConnection, cfg: DataConfig, listed: list[Listed], ch: Changes) -> bool:
    """Apply `ch` to the attached store in one transaction; False (nothing changed) when a rebuild is needed."""
    new_paths = [f.path for f in ch.new]
    files = su.read_new(con, cfg, new_paths) if new_paths else []
    total = con.execute(f"SELECT coalesce(sum(rows_read), 0) FROM {STORE}.files").fetchall()[0][0]
    fit_memory_limit(con, int(total) + sum(f.rows for f in files))
    rules = json.loads(con.execute(f"SELECT value FROM {STORE}.meta WHERE key = 'rules'").fetchall()[0][0])
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE store_keys AS SELECT customer_id, order_id,
            CAST("timestamp" AS DATE) AS day FROM {STORE}.lines LIMIT 0"""
        )
        for file_id, mtime in ch.touched:
            con.execute(f"UPDATE {STORE}.files SET mtime_ns = ? WHERE {FILE_ID} = ?", [mtime, file_id])
        if ch.gone:
            su.remove_files(con, ch.gone, "store_keys")
        if new_paths:
            first = con.execute(f"SELECT coalesce(max({FILE_ID}), 0) + 1 FROM {STORE}.files").fetchall()[0][0]
            staged_rules, counts = su.stage(con, cfg, first, "store.stage_new")
            if _types(con, "store.stage_new") != _types(con, f"{STORE}.lines") or [r for r, _ in staged_rules] != rules:
                con.execute("ROLLBACK")
                return False
            su.drop_duplicates(con, "store.stage_new", f"{STORE}.lines", f"{STORE}.duplicates")
            con.execute(
                """INSERT INTO store_keys SELECT DISTINCT customer_id, order_id, CAST("timestamp" AS DATE)
                FROM store.stage_new"""
            )
            con.execute(f"INSERT INTO {STORE}.lines SELECT * FROM store.stage_new")
            con.execute("DROP TABLE store.stage_new")
            if cfg.customer_attributes:
                su.stage_attributes(con, cfg, first, f"{STORE}.attributes")
            _record_files(con, ch.new, files, first, staged_rules, counts, _fingerprint_of(con))
        if ch.gone or new_paths:
            su.rebuild_orders(con, "store_keys")
            _clean_view(con)
            _record_meta(con, [(r, "") for r in rules], _fingerprint_of(con))
        con.execute("DROP TABLE store_keys")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP VIEW IF EXISTS {su.RAW}")
    con.execute(f"CHECKPOINT {STORE}")
    return True


def _types(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rel = con.table(table)
    return [(c, str(t)) for c, t in zip(rel.columns, rel.types, strict=True)]


def _fingerprint_of(con: duckdb.DuckDBPyConnection) -> str:
    return json.loads(con.execute(f"SELECT value FROM {STORE}.meta WHERE key = 'fingerprint'").fetchall()[0][0])


def _clean_view(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TEMP VIEW {CLEAN} AS SELECT * EXCLUDE ({LINE_HASH}, {FILE_ID}) FROM {STORE}.lines")


def _record_files(
    con: duckdb.DuckDBPyConnection,
    listed: list[Listed],
    files: list[SourceFile],
    first: int,
    rules: list[tuple[str, str]],
    counts: dict[int, dict[int, int]],
    wanted: str,
) -> None:
    """One `files` row per new file (with its content hash) and its lines per rule."""
    rows, rule_rows = [], []
    for i, (f, src) in enumerate(zip(listed, files, strict=True)):
        per_rule = counts.get(first + i, {})
        rows.append(
            (
                first + i,
                f.path,
                src.format,
                f.size,
                f.mtime_ns,
                content_hash(f.path),
                src.rows,
                per_rule.get(0, 0),
                wanted,
            )
        )
        rule_rows += [(first + i, name, per_rule.get(n, 0)) for n, (name, _) in enumerate(rules, 1)]
    con.executemany(f"INSERT INTO {STORE}.files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.executemany(f"INSERT INTO {STORE}.file_rules VALUES (?, ?, ?)", rule_rows)


def _record_meta(con: duckdb.DuckDBPyConnection, rules: list[tuple[str, str]], wanted: str) -> None:
    """The report's counts of what remains and the span of purchases, computed once per change of the store."""
    rows_out = con.execute(f"SELECT count(*) FROM {STORE}.lines").fetchall()[0][0]
    if rows_out == 0:  # the message of `clean_lines`
        read, paths = con.execute(f"SELECT sum(rows_read), string_agg(path, ', ') FROM {STORE}.files").fetchall()[0]
        rule = con.execute(f"SELECT rule FROM {STORE}.file_rules GROUP BY rule ORDER BY sum(n) DESC LIMIT 1").fetchall()
        rule = rule[0][0] if rule else "duplicate_line"
        raise InputError(f"no usable rows: all {read} rows were dropped, most by rule {rule!r}", file=paths)
    described = describe_orders(con, DataReport(files=[], rows_in=0), lines=CLEAN, orders=f"{STORE}.orders")
    first, last = con.execute(f"SELECT min(ts)::DATE, max(ts)::DATE FROM {STORE}.orders WHERE gross > 0").fetchall()[0]
    meta = {
        "fingerprint": wanted,
        "rules": [name for name, _ in rules],
        "rows_out": rows_out,
        "described": {
            k: v for k, v in described.to_dict().items() if k not in ("files", "rows_in", "dropped", "rows_out")
        },
        "span": [str(first) if first else None, str(last) if last else None],
    }
    con.execute(f"DELETE FROM {STORE}.meta")
    con.executemany(f"INSERT INTO {STORE}.meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])


def _serve(
    con: duckdb.DuckDBPyConnection, cfg: Config, path: Path, listed: list[Listed], lock: StoreLock, attributes: bool
) -> Prepared:
    """The store (attached read-only, under the shared lock) as the tables a full run makes, and its report."""
    from datetime import date

    meta = {k: json.loads(v) for k, v in con.execute(f"SELECT key, value FROM {STORE}.meta").fetchall()}
    con.execute(f"CREATE OR REPLACE VIEW lines AS SELECT * EXCLUDE ({LINE_HASH}, {FILE_ID}) FROM {STORE}.lines")
    con.execute(f"CREATE OR REPLACE VIEW orders AS SELECT * FROM {STORE}.orders")
    if attributes and cfg.data.customer_attributes:
        con.execute(
            f"CREATE OR REPLACE TABLE customer_attributes AS {su.attributes_sql(cfg.data, f'{STORE}.attributes')}"
        )
    by_path = {
        r[0]: r[1:]
        for r in con.execute(
            f"""SELECT f.path, f.format, f.rows_read, f.rows_kept, list(r.rule), list(r.n)
            FROM {STORE}.files f JOIN {STORE}.file_rules r USING ({FILE_ID}) GROUP BY ALL"""
        ).fetchall()
    }
    report = DataReport(files=[], rows_in=0)
    report.dropped = dict.fromkeys(meta["rules"], 0)
    kept = 0
    for f in listed:
        fmt, rows, rows_kept, names, ns = by_path[f.path]
        report.files.append(SourceFile(f.path, fmt, rows, f.size))
        report.rows_in += rows
        kept += rows_kept
        for name, n in zip(names, ns, strict=True):
            report.dropped[name] += n
    report.rows_out = meta["rows_out"]
    report.dropped["duplicate_line"] = kept - report.rows_out
    for key, value in meta["described"].items():
        setattr(report, key, value)
    fit_memory_limit(con, report.rows_in)
    # the shared lock lives as long as the connection reading the store, or until `release`
    _leases[id(con)] = weakref.finalize(con, lock.release)
    first, last = (date.fromisoformat(d) if d else None for d in meta["span"])
    return Prepared(DuckDBEngine(con), report, first, last)


def release(data: Prepared) -> None:
    """Close the connection of `data` and drop its shared lock on the store now, not when it is collected."""
    con = data.engine.con
    lease = _leases.pop(id(con), None)
    con.close()
    if lease is not None:
        lease()
