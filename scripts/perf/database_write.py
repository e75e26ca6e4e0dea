"""The database write of `segment score`: pandas' default `to_sql` insert against the bulk insert.

`nice -n 10 python scripts/perf/database_write.py PARTITION [--rows 300000 3000000] [--repeats 1]`

PARTITION is a segment-table Parquet partition of a real score (`make train score` writes
output/default/segment_table/score_date=*/part-0.parquet). Its rows are tiled to N rows with distinct
customer ids and its score date put back as a column (as `publish` holds it), then written into a new
temporary SQLite file twice per repeat: the old way (`to_sql`, 10,000 rows per chunk, as
`database.write_rows` did) and through `database.write_database` (delete of the date, bulk insert, commit).
Each write runs in a process forked after the frame is built (shared, not copied), so its peak resident
memory is the frame's plus its own. Prints one JSON line per write: seconds, the load average when it
started, the peak RSS; then whether both tables hold the same values (and SQLite types). `--postgres URL`
writes into that PostgreSQL database instead (two tables, dropped after the comparison).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from segment.pipeline.safe_paths import sqlite_url


def segment_rows(partition: Path, n: int):
    """The partition's rows repeated to n rows, customer ids made distinct, the score date as a column."""
    import numpy as np
    import pandas as pd

    base = pd.read_parquet(partition)
    when = date.fromisoformat(partition.parent.name.split("=", 1)[1])
    frame = base.iloc[np.arange(n) % len(base)].reset_index(drop=True)
    frame["customer_id"] = pd.array([f"{i:08d}" for i in range(n)], dtype=base["customer_id"].dtype)
    frame.insert(1, "score_date", when)
    return frame, when


def old_write(url: str, table: str, frame) -> None:
    """`database.write_rows` before the bulk insert: pandas' default insert, in the same kind of transaction."""
    import sqlalchemy as sa

    from segment.pipeline import database

    engine = database.create_engine(url)
    try:
        with engine.begin() as conn:
            frame.to_sql(
                table,
                conn,
                if_exists="append",
                index=False,
                chunksize=10_000,
                dtype={"score_date": sa.Date()},
            )
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("partition", type=Path)
    ap.add_argument("--rows", type=int, nargs="+", default=[300_000, 3_000_000])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--postgres", metavar="URL", help="write into this PostgreSQL database instead (tables dropped)")
    a = ap.parse_args()
    fork = multiprocessing.get_context("fork")  # each write in its own process: its own peak memory
    for n in a.rows:
        frame, when = segment_rows(a.partition, n)
        for r in range(a.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                if a.postgres:
                    targets = {way: (a.postgres, f"perf_{way}_{os.getpid()}") for way in ("old", "bulk")}
                else:
                    targets = {way: (sqlite_url(Path(tmp) / f"{way}.db"), "segment_table") for way in ("old", "bulk")}
                for way, (url, table) in targets.items():
                    results = fork.SimpleQueue()
                    child = fork.Process(target=_timed_write, args=(way, frame, when, url, table, results))
                    child.start()  # forked: it shares the frame, nothing is copied or pickled
                    took = results.get()
                    child.join()
                    print(json.dumps({"rows": n, "repeat": r, "write": way, **took}), flush=True)
                same = _digest(*targets["old"]) == _digest(*targets["bulk"])
                print(json.dumps({"rows": n, "repeat": r, "same_rows": same}), flush=True)


def _timed_write(way: str, frame, when: date, url: str, table: str, results) -> None:
    from segment.pipeline import database

    load = os.getloadavg()[0]
    t = time.perf_counter()
    if way == "old":
        old_write(url, table, frame)
    else:
        database.write_database({table: frame}, url, when)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB
    results.put({"seconds": round(wall, 2), "load1": round(load, 2), "peak_rss_gib": round(peak, 2)})


def _digest(url: str, table: str) -> str:
    """Every stored value (and its SQLite type), hashed: the two tables must hold the same rows. Drops them
    from PostgreSQL."""
    import hashlib

    import sqlalchemy as sa

    h = hashlib.sha256()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            cols = [c["name"] for c in sa.inspect(conn).get_columns(table)]
            if engine.dialect.name == "sqlite":
                sel, order = ", ".join(f'"{c}", typeof("{c}")' for c in cols), "rowid"
            else:
                sel, order = ", ".join(f'"{c}"' for c in cols), "customer_id"
            for row in conn.exec_driver_sql(f'SELECT {sel} FROM "{table}" ORDER BY {order}'):
                h.update(repr(tuple(row)).encode())
            if engine.dialect.name != "sqlite":
                conn.exec_driver_sql(f'DROP TABLE "{table}"')
    finally:
        engine.dispose()
    return h.hexdigest()


if __name__ == "__main__":
    main()
