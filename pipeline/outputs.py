"""Write the scoring outputs so that readers only ever see a complete previous or a complete new state.

- Parquet datasets are partitioned by score date with one file per partition, written to a hidden
  temporary name in the same folder and renamed over the old file (rename is atomic on POSIX; pyarrow's
  dataset discovery ignores names starting with "." or "_").
- The export folder of a date is built in a hidden staging folder and swapped in by two renames; an
  interrupted swap is repaired at the start of the next run.
- Database rows of a date are replaced in one transaction; table and schema names are validated
  identifiers, quoted by SQLAlchemy.
- A lock file per output root and date serialises concurrent runs.
- Every path is checked to stay under the output root.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from segment.errors import InputError, UserError
from segment.schema import CUSTOMER_ID, EXPORT_COLUMNS, SCHEME_COLUMNS, SCORE_DATE

PAUSE_ENV = "SEGMENT_TEST_PAUSE_BEFORE_SWAP"  # test hook: seconds to wait with new outputs staged


def _pause_before_swap() -> None:
    """Let a test kill the process at the worst moment: new outputs written, not yet swapped in."""
    seconds = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if seconds:
        Path(os.environ.get(PAUSE_ENV + "_MARKER", os.devnull)).write_text("staged")
        time.sleep(seconds)


def inside(root: Path, *parts: str) -> Path:
    """root/parts..., refusing any result that resolves outside root (`..`, absolute parts, symlinks)."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise InputError(f"output path {path} would escape the output root {base}")
    return path


def slug(name: str) -> str:
    """A file-name-safe form of a segment name ("Can't Lose Them" -> "cant_lose_them")."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")
    return text or "segment"


@contextlib.contextmanager
def score_lock(root: Path, score_date: date, timeout: float) -> Iterator[None]:
    """Hold the lock of (root, date); a second run waits up to `timeout` seconds, then fails clearly."""
    root.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(inside(root, f".score-{score_date.isoformat()}.lock")))
    try:
        with lock.acquire(timeout=timeout):
            yield
    except filelock.Timeout:
        raise UserError(
            f"another score run is writing {score_date} under {root}; waited {timeout:.0f} s "
            "(scoring.lock_timeout_seconds)"
        ) from None


def partition_path(root: Path, score_date: date) -> Path:
    """Folder of one score date in a Hive-partitioned dataset."""
    return root / f"score_date={score_date.isoformat()}"


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write `path` via a temporary sibling and a rename: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        _pause_before_swap()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write a text file (a report) atomically; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def previous_partition(root: Path, score_date: date) -> tuple[date, pd.DataFrame] | None:
    """The latest partition before `score_date` (the comparison point of the score summary), if any."""
    dates = sorted(
        date.fromisoformat(d.name.split("=", 1)[1])
        for d in root.glob("score_date=*")
        if (d / "part-0.parquet").exists()
    )
    earlier = [d for d in dates if d < score_date]
    if not earlier:
        return None
    return earlier[-1], pd.read_parquet(partition_path(root, earlier[-1]) / "part-0.parquet")


def write_partition(df: pd.DataFrame, root: Path, score_date: date) -> Path:
    """Replace the partition of `score_date` whole (score_date itself lives in the folder name)."""
    folder = partition_path(root, score_date)
    path = folder / "part-0.parquet"
    for stale in folder.glob(f".{path.name}.*.tmp"):  # left by a killed run; we hold the date's lock
        stale.unlink(missing_ok=True)
    table = pa.Table.from_pandas(df.drop(columns=SCORE_DATE), preserve_index=False)
    atomic_write_parquet(table, path)
    for other in folder.iterdir():  # anything else visible in the partition is not this run's: remove it
        if other.name != path.name and not other.name.startswith((".", "_")) and other.is_file():
            other.unlink()
    return path


def _repair(final: Path) -> None:
    """Finish or undo a swap that a crash interrupted, and drop stale staging folders."""
    for trash in final.parent.glob(f".trash-{final.name}-*"):
        if final.exists():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.rename(final)  # the crash came between the two renames: put the previous state back
    for stale in final.parent.glob(f".staging-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def write_exports(
    table: pd.DataFrame,
    attributes: pd.DataFrame | None,
    root: Path,
    score_date: date,
    lists: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """One CSV per segment of each scheme in exports/score_date=D/<scheme>/<segment>.csv, swapped in whole.

    Columns: the export columns `table` has, and only the attributes the config lists; rows keep `table`'s
    order (`exports.export_rows`: most valuable first). `lists` are further CSVs (file name -> rows) beside them.
    """
    final = inside(root, "exports", f"score_date={score_date.isoformat()}")
    final.parent.mkdir(parents=True, exist_ok=True)
    _repair(final)
    staging = final.parent / f".staging-{final.name}-{uuid.uuid4().hex}"

    def with_attributes(frame: pd.DataFrame) -> pd.DataFrame:
        if attributes is not None and len(attributes.columns) > 1:
            return frame.merge(attributes, on=CUSTOMER_ID, how="left")  # keeps the frame's row order
        return frame

    rows = with_attributes(table[[c for c in EXPORT_COLUMNS if c in table]])
    try:
        for scheme in SCHEME_COLUMNS:
            for name, part in rows.groupby(scheme, sort=True):
                path = inside(staging, scheme, f"{slug(str(name))}.csv")
                path.parent.mkdir(parents=True, exist_ok=True)
                part.to_csv(path, index=False)
        for file_name, extra in (lists or {}).items():
            path = inside(staging, file_name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with_attributes(extra).to_csv(path, index=False)
        _pause_before_swap()
        trash = final.parent / f".trash-{final.name}-{uuid.uuid4().hex}"
        if final.exists():
            final.rename(trash)
        staging.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def write_database(frames: dict[str, pd.DataFrame], url: str, score_date: date, schema: str | None = None) -> None:
    """For each table name -> rows: delete the date's rows and insert the new ones, all in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for name, df in frames.items():
                if sa.inspect(conn).has_table(name, schema=schema):
                    t = sa.Table(name, sa.MetaData(schema=schema), autoload_with=conn)
                    conn.execute(t.delete().where(t.c.score_date == score_date))
                df.to_sql(
                    name,
                    conn,
                    schema=schema,
                    if_exists="append",
                    index=False,
                    chunksize=10_000,
                    dtype={SCORE_DATE: sa.Date()},
                )
    finally:
        engine.dispose()
