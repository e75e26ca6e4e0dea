"""Cost of the value and timing step with and without reusing the snapshot step's work (issue 20).

`python scripts/perf/value_reuse.py CONFIG [--repeats 2] [--check]`

Prepares the config's data once and builds the snapshot step's features as `train.fit` does, then runs,
interleaved, the value step as it was before (`before`: each horizon builds its own customer features,
purchase-day summaries and BTYD fits; each baseline refits BG/NBD and Gamma-Gamma) and as it is
(`reuse`: `fit_value_models(known_features=...)`), and prints one JSON line per run with wall, process
CPU (every thread) and the load average. With `--check` the two results' metrics are compared first.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from segment.features.snapshots import plan_snapshots
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for
from segment.pipeline.snapshot import build_snapshots
from segment.pipeline.valuing import fit_value_models
from tests.test_cutoff_tables import fit_without_reuse as before  # the step at f24be4a, kept once


def clock(label: str, fn):
    """Run fn once; print wall, CPU and load as a JSON line; return its result."""
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"run": label, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load1": round(load, 2)}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", type=Path)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    cfg = load_config(a.config)
    data = prepare_for(cfg)
    plan = plan_snapshots(data.first, data.last, cfg.time)
    cutoffs = [*plan.train, *plan.validation, data.last]
    snaps = build_snapshots(data.engine, cutoffs, labelled=cutoffs[:-1], time=cfg.time, segments=cfg.segments)
    for _ in range(a.repeats):
        old = clock("before", lambda: before(data, cfg))
        new = clock("reuse", lambda: fit_value_models(data, cfg, known_features=snaps.features))
        if a.check:
            assert {h: v.metrics for h, v in old.value.items()} == {h: v.metrics for h, v in new.value.items()}
            assert old.timing.metrics == new.timing.metrics
            print(json.dumps({"check": "equal metrics"}))


if __name__ == "__main__":
    main()
