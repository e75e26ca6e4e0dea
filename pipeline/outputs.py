"""Atomic file writers for the scoring outputs, and the path rules every output follows.

Each writer replaces its file whole (a temporary name in the same folder, then a rename: atomic on POSIX;
pyarrow's dataset discovery ignores names starting with "." or "_"). Every path stays under the output
root, and nothing is written or deleted through a symbolic link. CSV exports neutralise spreadsheet
formulas in text cells. A lock file per output root and date serialises concurrent runs. How all of a
score's outputs become visible together is `publication.py`; the database side is `database.py`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import filelock
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.markup import escape

from segment.errors import InputError, UserError
from segment.pipeline import csv_safety, csv_write
from segment.pipeline.progress import console
from segment.schema import CUSTOMER_ID, EXPORT_COLUMNS, SCHEME_COLUMNS, SCORE_DATE

PAUSE_ENV = "SEGMENT_TEST_PAUSE_BEFORE_SWAP"  # test hook: seconds to wait with new outputs staged


def pause_before_swap() -> None:
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
        fsync(tmp)
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


def write_export_files(
    table: pd.DataFrame,
    attributes: pd.DataFrame | None,
    folder: Path,
    lists: dict[str, pd.DataFrame] | None = None,
) -> int:
    """One CSV per segment of each scheme in folder/<scheme>/<segment>.csv; return the number of files.

    Columns: the export columns `table` has, and only the attributes the config lists; rows keep `table`'s
    order (`exports.export_rows`: most valuable first). `lists` are further CSVs (file name -> rows) beside
    them. Text cells that a spreadsheet would run as a formula are neutralised (`neutralise_formulas`).
    """

    def with_attributes(frame: pd.DataFrame) -> pd.DataFrame:
        if attributes is not None and len(attributes.columns) > 1:
            frame = frame.merge(attributes, on=CUSTOMER_ID, how="left")  # keeps the frame's row order
        return neutralise_formulas(frame)

    rows = with_attributes(table[[c for c in EXPORT_COLUMNS if c in table]])
    files, groups = 0, {}
    positions = pd.Series(np.arange(len(rows)), index=rows.index)  # groups of positions: no frame copies
    for scheme in SCHEME_COLUMNS:
        for name, part in positions.groupby(rows[scheme], sort=True):  # the groups and order of rows.groupby
            path = inside(folder, scheme, f"{slug(str(name))}.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            groups[path] = part.to_numpy()  # a later segment with the same file name replaces it, as before
            files += 1
    csv_write.write_groups(rows, groups)
    for file_name, extra in (lists or {}).items():
        path = inside(folder, file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        csv_write.write_frame(with_attributes(extra), path)
        files += 1
    return files


FORMULA_PREFIXES = csv_safety.FORMULA_PREFIXES


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells starting with = + - @ tab or CR with `'`, so a spreadsheet shows them as text.

    Ids and attributes come from the input data; `=HYPERLINK(...)` in a customer id must not run when
    marketing opens the export (OWASP "CSV injection"). Line breaks inside a text cell become spaces: the
    CSV writer does not quote a bare CR, which would split the row. Numbers are left alone. Column-wise in
    Arrow (`csv_safety`); unchanged columns are shared with `df`, not copied.
    """
    out = df.copy(deep=False)
    for i, col in enumerate(df.columns):
        column = df.iloc[:, i]
        if csv_safety.is_text_column(column):
            fixed = csv_safety.neutralise_column(column)
            if fixed is not None:
                out[col] = fixed
    return out


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


def refuse_symlinks(root: Path, *parts: str) -> Path:
    """root/parts, refusing it if the path or any folder on the way below root is a symbolic link.

    Checked with lstat, without following links: a linked partition folder would make the swap delete files
    elsewhere, a linked `segments.db` would write another database. Nothing is written or deleted before.
    """
    base = Path(root).resolve()
    path = base
    for part in parts:
        if part in ("", ".", "..") or "/" in part:
            raise InputError(f"output path part {part!r} would escape the output root {base}")
        path = path / part
        if path.is_symlink():
            raise PublishError(f"{path} is a symbolic link: outputs are never written through links (remove it)")
    return path


def previous_partition(root: Path, score_date: date) -> tuple[date, pd.DataFrame] | None:
    """The latest readable partition before `score_date` (the comparison point of the score summary), if any.

    An unreadable one (damaged file) is reported and skipped: it must not block scoring a new date.
    """
    dates = sorted(
        (date.fromisoformat(d.name.split("=", 1)[1]) for d in root.glob("score_date=*") if not d.is_symlink()),
        reverse=True,
    )
    for when in dates:
        path = partition_path(root, when) / "part-0.parquet"
        if when >= score_date or not path.is_file():
            continue
        try:
            return when, pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as e:
            warn(f"partition {path} cannot be read ({type(e).__name__}); compared with an earlier one instead")
    return None


def warn(message: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


class PublishError(Exception):
    """Outputs could not be published; nothing visible changed (exit code 1). The message carries no data."""


def fsync(path: Path) -> None:
    """Flush a staged file to disk before it can be renamed into place."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@dataclass
class PublishedOutputs:
    """Where a score run's outputs went (all visible together, or none)."""

    score_date: date
    publication_id: str
    parquet: Path
    summary_parquet: Path
    database_url: str
    exports: Path | None
    report: Path | None
    files: int = 0
