"""Write the segment table: atomic Parquet partition swap and one database transaction per date.

A crash at any point leaves the previous outputs as they were: each partition is one file,
written to a temporary name in the same folder and renamed over the old one (rename is atomic
on POSIX), and the database write is a single transaction.
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa


def partition_path(root: Path, score_date: date) -> Path:
    """Folder of one score date in the Hive-partitioned dataset."""
    return root / f"score_date={score_date.isoformat()}"


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write `path` via a temporary sibling and a rename: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
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
    """Replace the partition of `score_date` (score_date itself lives in the folder name)."""
    path = partition_path(root, score_date) / "part-0.parquet"
    table = pa.Table.from_pandas(df.drop(columns="score_date"), preserve_index=False)
    atomic_write_parquet(table, path)
    return path


def write_database(df: pd.DataFrame, url: str, table: str, score_date: date) -> None:
    """Delete the date's rows and insert the new ones in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(table):
                t = sa.Table(table, sa.MetaData(), autoload_with=conn)
                conn.execute(t.delete().where(t.c.score_date == score_date))
            df.to_sql(table, conn, if_exists="append", index=False, chunksize=10_000, dtype={"score_date": sa.Date()})
    finally:
        engine.dispose()
