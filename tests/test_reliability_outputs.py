"""Reliability (issue 16): all outputs of a score date are published in one commit, or nothing visible changes."""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from segment.config import OutputConfig
from segment.pipeline import database, outputs
from segment.pipeline.journal import repair
from segment.pipeline.outputs import PublishError
from segment.pipeline.publication import Publication, publish_score
from segment.pipeline.safe_paths import sqlite_url

D1, D2, D3 = date(2021, 1, 1), date(2021, 2, 1), date(2021, 3, 1)


def _table(when: date, seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n)],
            "score_date": when,
            "rfm_segment": rng.choice(["Champions", "Lost", "Can't Lose Them"], n),
            "lifecycle_stage": rng.choice(["new", "active"], n),
            "cluster_name": rng.choice(["big spenders", "occasional"], n),
            "churn_probability": rng.random(n),
            "purchase_probability": rng.random(n),
            "churn_risk": rng.choice(["low", "high"], n),
            "propensity_decile": rng.integers(1, 11, n),
        }
    )


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    out = table.groupby("rfm_segment", as_index=False).agg(customers=("customer_id", "size"))
    return out.assign(score_date=table["score_date"].iloc[0])


def _publish(root: Path, when: date, seed: int, **output) -> outputs.PublishedOutputs:
    table = _table(when, seed)
    cfg = OutputConfig(root=str(root), **output)
    return publish_score(
        cfg, when, table, _summary(table), attributes=None, report=lambda prev: f"<p>{seed} {prev}</p>", lock_timeout=5
    )


def _digest(root: Path) -> dict[str, str]:
    """Every visible file under root -> sha256; the database as its rows (a file's bytes change on reads)."""
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not p.name.startswith("segments.db")
    }
    return files | {f"db:{k}": v for k, v in _db(root).items()}


def _db(root: Path) -> dict[str, str]:
    path = root / "segments.db"
    if not path.exists():
        return {}
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            n: str(sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names if "publication" not in n
        }


def _leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*") if p.suffix in (".tmp", ".json") or ".staging-" in p.name]


def test_a_publication_writes_every_output_with_one_marker_row(tmp_path):
    pub = _publish(tmp_path, D1, seed=1)
    assert len(pd.read_parquet(pub.parquet)) == 40 and pub.report.read_text() == "<p>1 None</p>"
    assert len(list((pub.exports).rglob("*.csv"))) == 7
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        assert conn.execute("SELECT count(*) FROM segment_table").fetchone()[0] == 40
        assert conn.execute("SELECT publication_id FROM segment_publications").fetchall() == [(pub.publication_id,)]
    assert _leftovers(tmp_path) == []


def test_a_locked_database_leaves_every_output_as_it_was(tmp_path):
    _publish(tmp_path, D1, seed=1)
    before = _digest(tmp_path)
    holder = sqlite3.connect(tmp_path / "segments.db", timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")  # another process is writing the database
    try:
        with pytest.raises(PublishError, match="database write failed, nothing was published.*locked"):
            _publish(tmp_path, D1, seed=2)
    finally:
        holder.rollback()
        holder.close()
    assert _digest(tmp_path) == before and _leftovers(tmp_path) == []


def test_an_older_database_schema_gets_the_new_columns_and_keeps_its_rows(tmp_path):
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        conn.execute("CREATE TABLE segment_table (customer_id TEXT, score_date DATE, rfm_segment TEXT)")
        conn.execute("INSERT INTO segment_table VALUES ('OLD1', '2020-12-01', 'Lost')")
    _publish(tmp_path, D1, seed=1)
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        cols = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(segment_table)")}
        old = conn.execute("SELECT churn_probability FROM segment_table WHERE customer_id = 'OLD1'").fetchall()
        n = conn.execute("SELECT count(*) FROM segment_table WHERE score_date = ?", (str(D1),)).fetchone()[0]
    assert cols["churn_probability"] == "FLOAT" and cols["churn_risk"] == "TEXT"
    assert old == [(None,)] and n == 40
    published = pd.read_sql(
        "SELECT * FROM segment_table WHERE customer_id <> 'OLD1'", f"sqlite:///{tmp_path}/segments.db"
    )
    frame = _table(D1, seed=1)
    np.testing.assert_allclose(published.sort_values("customer_id")["churn_probability"], frame["churn_probability"])


def test_a_failed_publication_also_undoes_the_added_columns(tmp_path, monkeypatch):
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        conn.execute("CREATE TABLE segment_table (customer_id TEXT, score_date DATE, rfm_segment TEXT)")

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(pd.DataFrame, "to_sql", broken)
    with pytest.raises(PublishError, match="database write failed"):
        _publish(tmp_path, D1, seed=1)
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(segment_table)")]
    assert cols == ["customer_id", "score_date", "rfm_segment"]
    assert not (tmp_path / "segment_table" / f"score_date={D1}").exists() and _leftovers(tmp_path) == []


def test_a_same_named_table_that_is_not_ours_is_never_altered(tmp_path):
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        conn.execute("CREATE TABLE segment_table (id INTEGER, name TEXT)")
    with pytest.raises(PublishError, match="not a segment table"):
        _publish(tmp_path, D1, seed=1)
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        assert [r[1] for r in conn.execute("PRAGMA table_info(segment_table)")] == ["id", "name"]
    assert not (tmp_path / "segment_table" / f"score_date={D1}").exists()


def test_a_full_disk_while_staging_publishes_nothing(tmp_path, monkeypatch):
    _publish(tmp_path, D1, seed=1)
    before = _digest(tmp_path)
    real, calls = pq.write_table, []

    def full(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the summary partition: the segment table is already staged
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OSError, match="No space"):
        _publish(tmp_path, D1, seed=2)
    assert _digest(tmp_path) == before and _leftovers(tmp_path) == []


@pytest.mark.parametrize("step", ["stage_partition", "stage_exports", "stage_text", "stage_rows", "check"])
def test_a_failure_at_any_step_before_the_commit_changes_nothing_visible(tmp_path, monkeypatch, step):
    _publish(tmp_path, D1, seed=1)
    before = _digest(tmp_path)
    real = getattr(Publication, step)

    def failing(self, *args, **kwargs):
        real(self, *args, **kwargs)  # the step did its work, then the run fails
        raise RuntimeError(f"injected failure after {step}")

    monkeypatch.setattr(Publication, step, failing)
    with pytest.raises(RuntimeError, match="injected"):
        _publish(tmp_path, D1, seed=2)
    assert _digest(tmp_path) == before and _leftovers(tmp_path) == []


def test_a_crash_after_the_database_commit_is_finished_by_the_next_run_of_any_date(tmp_path, monkeypatch):
    _publish(tmp_path, D1, seed=1)
    real, calls = os.replace, []

    def crash(src, dst):
        if ".publish-" not in str(dst):  # a rename of an output (not the journal)
            calls.append(1)
            if len(calls) == 2:  # the database committed; the first file is in, the process dies now
                raise KeyboardInterrupt("killed between renames")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        _publish(tmp_path, D1, seed=2)
    monkeypatch.setattr(os, "replace", real)
    assert list(tmp_path.glob(".publish-*.json"))  # the journal says what is left to do
    expected = _table(D1, seed=2)
    assert (tmp_path / "reports" / f"score-{D1}.html").read_text() == "<p>1 None</p>"  # a mix, for now
    _publish(tmp_path, D2, seed=3)  # the next run, another date, finishes the interrupted one first
    got = pd.read_parquet(tmp_path / "segment_table" / f"score_date={D1}" / "part-0.parquet")
    pd.testing.assert_frame_equal(got, expected.drop(columns="score_date"))
    assert (tmp_path / "reports" / f"score-{D1}.html").read_text() == "<p>2 None</p>"
    with sqlite3.connect(tmp_path / "segments.db") as conn:
        db = conn.execute(f"SELECT churn_probability FROM segment_table WHERE score_date = '{D1}'").fetchall()
    assert sorted(x for (x,) in db) == sorted(expected["churn_probability"])  # files and database agree
    assert _leftovers(tmp_path) == []


def test_a_crash_before_the_database_commit_is_undone_by_the_next_run(tmp_path):
    _publish(tmp_path, D1, seed=1)
    before = _digest(tmp_path)
    table = _table(D1, seed=2)
    pub = Publication(OutputConfig(root=str(tmp_path)), D1).__enter__()
    pub.stage_partition("segment_table", table)
    pub.stage_exports(table, None)
    pub.stage_rows({"segment_table": table})
    pub._close()  # the process dies: no commit, no cleanup
    assert _leftovers(tmp_path) and _digest(tmp_path) == before
    assert repair(tmp_path, D1) == [f"{D1}: undone"]
    assert _digest(tmp_path) == before and _leftovers(tmp_path) == []


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.parquet").write_bytes(b"not ours")
    return outside


@pytest.mark.parametrize("link", ["segment_table/score_date=2021-01-01", "exports/score_date=2021-01-01", "exports"])
def test_a_symlinked_output_folder_is_refused_before_any_write_or_delete(tmp_path, link):
    root, outside = tmp_path / "root", _outside(tmp_path)
    (root / link).parent.mkdir(parents=True)
    (root / link).symlink_to(outside, target_is_directory=True)
    with pytest.raises(PublishError, match="symbolic link"):
        _publish(root, D1, seed=1)
    assert [p.name for p in outside.iterdir()] == ["keep.parquet"]
    assert (
        not (root / "segments.db").exists()
        and not (root / "segment_table" / "score_date=2021-01-01").is_dir()
        or ((root / link).is_symlink())
    )
    assert _leftovers(root) == []


def test_a_symlinked_segments_db_is_never_followed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    (root / "segments.db").symlink_to(other)
    with pytest.raises(PublishError, match="symbolic link"):
        _publish(root, D1, seed=1)
    assert hashlib.sha256(other.read_bytes()).hexdigest() == digest
    assert not (root / "segment_table").exists()


def test_csv_exports_neutralise_spreadsheet_formulas(tmp_path):
    table = _table(D1, seed=1, n=7)
    table["customer_id"] = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "C1"]
    attributes = pd.DataFrame({"customer_id": table["customer_id"], "email": ["=cmd|'/c calc'!A0"] + ["a@b.c"] * 6})
    cfg = OutputConfig(root=str(tmp_path), export_attributes=[])
    pub = publish_score(cfg, D1, table, _summary(table), attributes=attributes, report=lambda p: "", lock_timeout=5)
    rows = []
    for f in (pub.exports / "rfm_segment").glob("*.csv"):
        with open(f, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    cells = pd.DataFrame(rows)
    ids = set(cells["customer_id"])
    assert ids == {'\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "' x", "C1"}  # no bare CR
    assert set(cells["email"]) == {"'=cmd|'/c calc'!A0", "a@b.c"}
    assert (cells["churn_probability"].astype(float) >= 0).all()  # numbers are left alone


def test_a_corrupt_older_partition_is_reported_and_does_not_block_a_new_date(tmp_path, capsys):
    _publish(tmp_path, D1, seed=1)
    _publish(tmp_path, D2, seed=2)
    damaged = tmp_path / "segment_table" / f"score_date={D2}" / "part-0.parquet"
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated by a disk error
    pub = _publish(tmp_path, D3, seed=3)
    assert len(pd.read_parquet(pub.parquet)) == 40
    assert pub.report.read_text().startswith(f"<p>3 ({D1!r}")  # compared with the last readable date
    assert "cannot be read" in capsys.readouterr().err and str(damaged) in capsys.readouterr().err + str(damaged)


def test_write_database_errors_carry_no_customer_ids_or_scores(tmp_path):
    url = sqlite_url(tmp_path / "x.db")
    table = _table(D1, seed=1).assign(customer_id=lambda d: "jane.doe@example.com-" + d["customer_id"])
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a unique index the rows break: the driver's error lists the parameters
        conn.execute(sa.text("CREATE TABLE t (customer_id TEXT, score_date DATE, churn_probability REAL)"))
        conn.execute(sa.text("CREATE UNIQUE INDEX u ON t (score_date)"))
    engine.dispose()
    with pytest.raises(PublishError) as e:
        database.write_database({"t": table[["customer_id", "score_date", "churn_probability"]]}, url, D1)
    text = str(e.value)
    assert "IntegrityError" in text and "jane.doe" not in text and "parameters" not in text
    assert not any(f"{p:.4f}"[:6] in text for p in table["churn_probability"])
