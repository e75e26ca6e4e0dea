"""Spark in local mode against DuckDB on the same generated order lines: prepare and features.

Both run the same SQL (Spark through features/dialect.py) on this machine: load + validate + clean + orders
("prepare"), then the customer feature table at four monthly cutoffs. Spark's session start is timed on
its own. Each engine runs in its own process (`python -m bench.spark ENGINE ROWS`), so neither warms the
other's caches; the load average (1 min) is read before and after, as the machine is shared. On one
machine Spark is expected to lose: it runs the same work through a JVM, a job per statement and shuffles
that DuckDB does in one process. Run it only with the `spark` extra installed (`make bench SECTIONS=spark`
does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

from bench.common import REPO, header, table, write
from bench.generate import COLUMNS, lines_file

SIZES = (1_000_000,)
CUTOFFS = [date(2023, 9, 30), date(2023, 10, 31), date(2023, 11, 30), date(2023, 12, 31)]


def _child(engine: str, rows: int) -> dict:
    """One engine on one input, in this process: seconds per step and the load average around them."""
    from segment.config import DataConfig
    from segment.features.customer import customer_features

    cfg = DataConfig(source=[str(lines_file(rows))], columns=COLUMNS)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    if engine == "spark":
        from segment.features.spark_engine import SparkConnection, SparkEngine, spark_session
        from segment.pipeline import spark_prepare

        eng = SparkEngine(spark_session("local[2]"))
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = spark_prepare.prepare(eng, cfg)
        con = SparkConnection(eng)
    else:
        from segment.pipeline import prepare as duck

        con = duck.connect()
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = duck.prepare(con, cfg)
    prepared = time.perf_counter() - t1
    t2 = time.perf_counter()
    feats = customer_features(con, CUTOFFS, horizon_days=90)
    featured = time.perf_counter() - t2
    return {
        "engine": engine,
        "rows": rows,
        "start_s": start,
        "prepare_s": prepared,
        "features_s": featured,
        "feature_rows": len(feats),
        "rows_out": report.rows_out,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def run(results_dir: Path) -> Path:
    """Both engines at each size, each in a fresh process; write bench/results/spark.md."""
    rows = []
    for n in SIZES:
        lines_file(n)  # generate once, outside the timings
        for engine in ("duckdb", "spark"):
            proc = subprocess.run(
                [sys.executable, "-m", "bench.spark", engine, str(n)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
            )
            if proc.returncode != 0:
                raise RuntimeError(f"bench.spark {engine} {n} failed:\n{proc.stderr[-2000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    df = pd.DataFrame(rows)
    assert df.groupby("rows")["feature_rows"].nunique().eq(1).all(), "the engines disagree on the feature rows"
    text = header("Spark (local mode) vs DuckDB: prepare and features on one machine", "spark") + __doc__.strip()
    text += "\n\n" + table(df, floatfmt=".1f")
    write(results_dir, "spark", text)
    return results_dir / "spark.md"


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]))))
