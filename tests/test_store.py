"""The incremental store (pipeline/store.py): every way of reaching it gives the tables and the data report of a
full run on the same files, on the bundled sample of Online Retail II (two yearly files that share lines).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from segment.pipeline import store, store_update
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for
from segment.pipeline.prepare import Prepared, prepare_data
from segment.pipeline.store import release, store_path
from segment.pipeline.store_files import Listed, StoredFile, changes
from segment.pipeline.store_lock import StoreLock
from tests.conftest import REPO, RETAIL_COLUMNS, SAMPLE, write_config

CODES = ["POST", "DOT", "M", "C2", "BANK CHARGES"]
FIRST, SECOND = "year_2009_2010.parquet", "year_2010_2011.parquet"


def _config(tmp_path: Path, **data):
    data = {
        "source": [str(tmp_path / "src" / "*.parquet")],
        "columns": RETAIL_COLUMNS,
        "non_product_codes": CODES,
        **data,
    }
    return load_config(write_config(tmp_path, data))


def _copy(tmp_path: Path, name: str, table=None) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    target = tmp_path / "src" / name
    pq.write_table(table if table is not None else pq.read_table(SAMPLE / name), target)
    return target


def _frame(data: Prepared, table: str) -> pd.DataFrame:
    df = data.engine.query(f"SELECT * FROM {table}")
    cols = sorted(df.columns)
    return df[cols].sort_values(cols).reset_index(drop=True)


def _assert_same(stored: Prepared, full: Prepared) -> None:
    """The store's lines, orders, data report and span are a full run's."""
    assert stored.report == full.report
    assert (stored.first, stored.last) == (full.first, full.last)
    for table in ("lines", "orders"):
        pd.testing.assert_frame_equal(_frame(stored, table), _frame(full, table))


def _close(data: Prepared) -> None:
    release(data)


def _store_files(cfg) -> pd.DataFrame:
    with duckdb.connect(str(store_path(cfg)), read_only=True) as con:
        return con.execute("SELECT file_id, path, mtime_ns FROM files ORDER BY path").df()


@pytest.mark.parametrize("checkpoint", [False, True])
def test_store_then_append_equals_a_full_run(tmp_path, monkeypatch, checkpoint):
    if checkpoint:  # the path of inputs over 20M lines: the build checkpoints before the orders
        monkeypatch.setattr(store, "CHECKPOINT_LINES", 0)
    _copy(tmp_path, FIRST)
    cfg = _config(tmp_path)
    first = prepare_for(cfg)
    _assert_same(first, prepare_data(cfg.data))
    _close(first)
    _copy(tmp_path, SECOND)  # overlaps the first file: lines in both count once
    appended, full = prepare_for(cfg), prepare_data(cfg.data)
    assert full.report.dropped["duplicate_line"] > 0
    _assert_same(appended, full)
    assert list(_store_files(cfg)["file_id"]) == [1, 2]  # the first file was not read again


def test_a_duplicate_across_an_old_and_a_new_file_counts_once(tmp_path):
    _copy(tmp_path, FIRST)
    cfg = _config(tmp_path)
    before = prepare_for(cfg)
    lines, duplicates = before.report.rows_out, before.report.dropped["duplicate_line"]
    _close(before)
    old = pq.read_table(SAMPLE / FIRST)
    copied = old.filter(
        pc.and_(pc.is_valid(old["Customer ID"]), pc.invert(pc.is_in(old["StockCode"], pa.array(CODES))))
    )
    copied = copied.filter(pc.greater(copied["Price"], 0)).slice(0, 40)  # 40 lines the rules keep
    _copy(tmp_path, "copies.parquet", copied)
    after = prepare_for(cfg)
    assert after.report.rows_out == lines  # every copied line is stored already: nothing added
    assert after.report.dropped["duplicate_line"] == duplicates + 40
    _assert_same(after, prepare_data(cfg.data))


def test_a_touched_but_equal_file_is_not_read_again(tmp_path, monkeypatch):
    path = _copy(tmp_path, FIRST)
    cfg = _config(tmp_path)
    _close(prepare_for(cfg))
    before = _store_files(cfg)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    read: list = []
    real = store_update.load_lines
    monkeypatch.setattr(store_update, "load_lines", lambda *a, **k: read.append(k.get("paths")) or real(*a, **k))
    touched = prepare_for(cfg)
    assert read == []
    after = _store_files(cfg)
    assert list(after["file_id"]) == list(before["file_id"])
    assert after["mtime_ns"][0] == path.stat().st_mtime_ns != before["mtime_ns"][0]
    _assert_same(touched, prepare_data(cfg.data))


def test_a_changed_or_removed_old_file_equals_a_full_rebuild(tmp_path):
    _copy(tmp_path, FIRST)
    second = _copy(tmp_path, SECOND)
    cfg = _config(tmp_path)
    _close(prepare_for(cfg))
    # the first file loses its first 500 lines and one price changes: same name, other size and content
    old = pq.read_table(SAMPLE / FIRST).slice(500)
    prices = old["Price"].to_pylist()
    prices[10] = prices[10] + 1.0
    _copy(tmp_path, FIRST, old.set_column(old.schema.get_field_index("Price"), "Price", pa.array(prices)))
    changed = prepare_for(cfg)
    _assert_same(changed, prepare_data(cfg.data))
    assert list(_store_files(cfg)["file_id"]) == [3, 2]  # only the changed file was read again
    _close(changed)
    # the second file goes: the lines it shared with the first stay, from the first file's copies
    second.unlink()
    removed = prepare_for(cfg)
    _assert_same(removed, prepare_data(cfg.data))


def test_a_change_of_the_data_config_rebuilds(tmp_path):
    _copy(tmp_path, FIRST)
    _close(prepare_for(_config(tmp_path)))
    fewer = _config(tmp_path, non_product_codes=["POST"])
    data = prepare_for(fewer)
    _assert_same(data, prepare_data(fewer.data))
    assert (
        data.report.dropped["non_product_code"]
        < prepare_data(_config(tmp_path).data).report.dropped["non_product_code"]
    )


def test_contact_attributes_come_from_the_store_as_from_raw_lines(tmp_path):
    _copy(tmp_path, FIRST)
    cfg = _config(tmp_path, customer_attributes={"place": "Country"})
    _close(prepare_for(cfg, attributes=True))
    _copy(tmp_path, SECOND)
    stored, full = prepare_for(cfg, attributes=True), prepare_data(cfg.data, attributes=True)
    pd.testing.assert_frame_equal(_frame(stored, "customer_attributes"), _frame(full, "customer_attributes"))


KILL_DURING = """
import os, signal, sys
from segment.pipeline import store, store_update
from segment.pipeline.config_file import load_config
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(store_update if sys.argv[2] != "build_orders" else store, sys.argv[2], die)
store.prepare_stored(load_config(sys.argv[1]))
"""


@pytest.mark.parametrize("step", ["rebuild_orders", "drop_duplicates", "build_orders"])
def test_an_interrupted_update_leaves_the_previous_store_usable(tmp_path, step):
    _copy(tmp_path, FIRST)
    cfg = _config(tmp_path)
    before = prepare_for(cfg)
    report = before.report
    _close(before)
    _copy(tmp_path, SECOND)
    if step == "build_orders":  # the kill hits a rebuild (config changed), which writes a new file
        cfg = _config(tmp_path, non_product_codes=CODES[:2])
    config = tmp_path / "config.yaml"
    proc = subprocess.run([sys.executable, "-c", KILL_DURING, str(config), step], cwd=REPO, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    with duckdb.connect(str(store_path(cfg)), read_only=True) as con:  # the previous store, as it was
        assert con.execute("SELECT count(*) FROM lines").fetchall()[0][0] == report.rows_out
        assert con.execute("SELECT count(*) FROM files").fetchall()[0][0] == 1
        assert (
            json.loads(con.execute("SELECT value FROM meta WHERE key = 'rows_out'").fetchall()[0][0]) == report.rows_out
        )
    _assert_same(prepare_for(cfg), prepare_data(cfg.data))  # and the next run completes the update


def test_rebuild_flag_builds_the_store_again(tmp_path):
    _copy(tmp_path, FIRST)
    config = tmp_path / "config.yaml"
    cfg = _config(tmp_path)
    code = "from segment.pipeline.cli import main; main()"
    run = [sys.executable, "-c", code, "validate", "--config", str(config)]
    first = subprocess.run(run, cwd=REPO, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    inode = store_path(cfg).stat().st_ino
    again = subprocess.run(run, cwd=REPO, capture_output=True, text=True)
    assert "store:" not in again.stderr and store_path(cfg).stat().st_ino == inode  # served as it was
    rebuilt = subprocess.run([*run, "--rebuild"], cwd=REPO, capture_output=True, text=True)
    assert rebuilt.returncode == 0 and "(--rebuild)" in rebuilt.stderr
    assert store_path(cfg).stat().st_ino != inode  # a new file, renamed over the old one
    assert rebuilt.stdout == first.stdout  # the same data report


def test_a_run_that_must_change_a_store_this_process_reads_cleans_in_memory(tmp_path, capsys):
    _copy(tmp_path, FIRST)
    cfg = _config(tmp_path)
    reading = prepare_for(cfg)  # still open
    _copy(tmp_path, SECOND)
    data = prepare_for(cfg)
    assert "cleaning every source file in memory" in capsys.readouterr().err
    _assert_same(data, prepare_data(cfg.data))
    assert reading.report.rows_out < data.report.rows_out


def test_the_lock_lets_readers_share_and_a_writer_wait(tmp_path):
    a, b = StoreLock(tmp_path / "x.lock"), StoreLock(tmp_path / "x.lock")
    assert a.acquire(shared=True, timeout=0) and b.acquire(shared=True, timeout=0)
    assert not StoreLock(tmp_path / "x.lock").acquire(shared=False, timeout=0.3)
    a.release()
    b.release()
    writer = StoreLock(tmp_path / "x.lock")
    assert writer.acquire(shared=False, timeout=0)
    assert not a.acquire(shared=True, timeout=0.3)
    writer.release()


def test_changes_hash_only_what_size_and_time_cannot_settle():
    stored = [StoredFile(1, "a", 10, 100, "ha"), StoredFile(2, "b", 10, 100, "hb"), StoredFile(3, "c", 5, 1, "hc")]
    hashed: list[str] = []

    def hash_of(path: str) -> str:
        hashed.append(path)
        return {"a": "ha", "b": "other"}[path]

    listed = [Listed("a", 10, 200), Listed("b", 10, 200), Listed("d", 7, 1)]
    got = changes(listed, stored, hash_of)
    assert hashed == ["a", "b"]
    assert got.touched == [(1, 200)] and got.gone == [2, 3] and [f.path for f in got.new] == ["b", "d"]
    assert changes([Listed("a", 10, 100)], stored[:1], hash_of).empty
