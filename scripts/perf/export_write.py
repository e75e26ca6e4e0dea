"""The marketing CSV exports of `segment score`: the old `to_csv` per segment against the Arrow-built files.

`nice -n 10 python scripts/perf/export_write.py PARTITION [--rows 300000 3000000] [--repeats 1] [--attributes]`

PARTITION is a segment-table Parquet partition of a real score (`make train score` writes
output/default/segment_table/score_date=*/part-0.parquet). Its rows are tiled to N rows with distinct
customer ids, the score date put back as a column, each customer's country taken from that score's own
export files (the bundled sample maps it), and turned into export rows by `exports.export_rows` as
`publish` does, with the win-back list (`moved_active_to_at_risk.csv`) of a previous date at which every
at-risk customer was active. `--attributes` adds an e-mail and a phone number per customer (the phone
starts with "+": every one is neutralised). Then `write_export_files` runs the old way (the code before
issue 20, kept in tests/test_csv_exports.py) and the new way, each in a process forked after the rows are
built (shared, not copied), into a temporary folder. Prints one JSON line per write: seconds, load
average when it started, peak RSS of the writing process (sampled every 10 ms) and `own_gib`, that peak
less its resident size at the start (the shared rows, mapped in the forked process; memory the
allocators kept from building the rows is reused first, so this undercounts), and `arrow_gib`, Arrow's
own peak allocation beyond the rows' (sampled alike; the new path's buffers). Then whether both folders
hold the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from segment.pipeline import exports, outputs
from segment.schema import CUSTOMER_ID, SCORE_DATE
from tests.test_csv_exports import old_write_export_files  # the code before issue 20, kept once


def export_inputs(partition: Path, n: int, attributes: bool):
    """The arguments `publish` hands `write_export_files` for n customers tiled from the partition."""
    base = pd.read_parquet(partition)
    when = date.fromisoformat(partition.parent.name.split("=", 1)[1])
    countries = {}
    for f in (partition.parents[2] / "exports" / partition.parent.name / "rfm_segment").glob("*.csv"):
        part = pd.read_csv(f, dtype={CUSTOMER_ID: str}, usecols=[CUSTOMER_ID, "country"], keep_default_na=False)
        countries.update(zip(part[CUSTOMER_ID], part["country"], strict=True))
    take = np.arange(n) % len(base)
    table = base.iloc[take].reset_index(drop=True)
    ids = pd.array([f"{i:08d}" for i in range(n)], dtype=base[CUSTOMER_ID].dtype)
    extras = None
    if countries:
        country = base[CUSTOMER_ID].map(countries).to_numpy()[take]
        extras = pd.DataFrame({CUSTOMER_ID: ids, "country": pd.array(country, dtype=base[CUSTOMER_ID].dtype)})
    table[CUSTOMER_ID] = ids
    table.insert(1, SCORE_DATE, when)
    rows = exports.export_rows(table, extras)
    previous = table[[CUSTOMER_ID, "lifecycle_stage"]].assign(
        lifecycle_stage=table["lifecycle_stage"].str.replace("_at_risk", "_active")
    )
    lists = {exports.MOVED_FILE: exports.moved_to_at_risk(rows, previous)}
    attrs = None
    if attributes:
        text = base[CUSTOMER_ID].dtype
        attrs = pd.DataFrame(
            {
                CUSTOMER_ID: ids,
                "email": pd.array([f"customer{i}@example.com" for i in range(n)], dtype=text),
                "phone": pd.array([f"+44 7700 {i % 1_000_000:06d}" for i in range(n)], dtype=text),
            }
        )
    return rows, attrs, lists


def _timed(way: str, rows, attrs, lists, folder: Path, results) -> None:
    import pyarrow as pa

    base, peak = rss_gib(), [0.0]  # the shared rows are mapped here already: growth beyond base is the write's
    arrow_base, arrow_peak = pa.total_allocated_bytes(), [0]
    done = threading.Event()

    def sample() -> None:  # the kernel's peak (VmHWM) misses memory an allocator returns with madvise
        while not done.wait(0.01):
            peak[0] = max(peak[0], rss_gib())
            arrow_peak[0] = max(arrow_peak[0], pa.total_allocated_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = os.getloadavg()[0]
    t = time.perf_counter()
    write = old_write_export_files if way == "old" else outputs.write_export_files
    files = write(rows, attrs, folder, lists)
    wall = time.perf_counter() - t
    done.set()
    sampler.join()
    top = max(peak[0], rss_gib())
    results.put(
        {"seconds": round(wall, 2), "load1": round(load, 2), "peak_rss_gib": round(top, 2)}
        | {"own_gib": round(top - base, 2), "arrow_gib": round(max(arrow_peak[0] - arrow_base, 0) / 2**30, 2)}
        | {"files": files}
    )


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.csv")}


def rss_gib() -> float:
    """Resident memory of this process now, in GiB (/proc/self/statm: pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("partition", type=Path)
    ap.add_argument("--rows", type=int, nargs="+", default=[300_000, 3_000_000])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--attributes", action="store_true", help="add an e-mail and a phone number per customer")
    a = ap.parse_args()
    fork = multiprocessing.get_context("fork")  # each write in its own process: its own peak memory
    for n in a.rows:
        rows, attrs, lists = export_inputs(a.partition, n, a.attributes)
        info = {"rows": n, "moved_rows": len(lists[exports.MOVED_FILE]), "columns": len(rows.columns)}
        print(json.dumps({**info, "attributes": a.attributes, "rows_rss_gib": round(rss_gib(), 2)}), flush=True)
        for r in range(a.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                for way in ("old", "new") if r % 2 == 0 else ("new", "old"):  # alternate which goes first
                    results = fork.SimpleQueue()
                    child = fork.Process(target=_timed, args=(way, rows, attrs, lists, Path(tmp) / way, results))
                    child.start()
                    took = results.get()
                    child.join()
                    print(json.dumps({"rows": n, "repeat": r, "write": way, **took}), flush=True)
                old, new = digest(Path(tmp) / "old"), digest(Path(tmp) / "new")
                print(json.dumps({"rows": n, "repeat": r, "files": len(new), "same_bytes": old == new}), flush=True)


if __name__ == "__main__":
    main()
