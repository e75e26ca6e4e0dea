"""Cost of 32 cutoffs vs 1 cutoff for the per-cutoff feature query and the running-sum formulation.

`python scripts/perf/features_cutoffs.py FILE [--repeats 3] [--check]`

Prepares FILE (generated Online Retail II layout) once, then runs `customer_features` and
`running_features` at 1 and at 32 cutoffs (28 days apart, ending at the last date), interleaved, and
prints wall and process CPU (all DuckDB threads) with the load average for each run. With `--check`
the two formulations' 32-cutoff frames are compared (assert_frame_equal, rtol 1e-9) first.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import yaml

from bench.generate import COLUMNS
from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.features.running import running_features
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, data_span, prepare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    cfg_path = a.file.with_suffix(".cutoffs.yaml")
    cfg_path.write_text(yaml.safe_dump({"data": {"source": [str(a.file)], "columns": COLUMNS}}))
    cfg = load_config(cfg_path)
    con = connect()
    prepare(con, cfg.data)
    _, last = data_span(con)
    cuts = {n: sorted(last - timedelta(days=28 * i) for i in range(n)) for n in (1, 32)}
    fns = {"current": lambda con, *a, **k: customer_features(DuckDBEngine(con), *a, **k), "running": running_features}
    if a.check:
        ref = customer_features(DuckDBEngine(con), cuts[32], horizon_days=90)
        new = running_features(con, cuts[32], horizon_days=90)
        pd.testing.assert_frame_equal(ref.reset_index(drop=True), new.reset_index(drop=True), rtol=1e-9)
        print(json.dumps({"check": "equal", "rows": len(ref)}), flush=True)
    for rep in range(a.repeats):
        for name, fn in fns.items():
            for n, c in cuts.items():
                load = os.getloadavg()[0]
                w, p = time.perf_counter(), time.process_time()
                df = fn(con, c, horizon_days=90)
                out = {"rep": rep, "query": name, "cutoffs": n, "rows": len(df)}
                out |= {"wall": round(time.perf_counter() - w, 2), "cpu": round(time.process_time() - p, 2)}
                print(json.dumps(out | {"load1": round(load, 2)}), flush=True)


if __name__ == "__main__":
    main()
