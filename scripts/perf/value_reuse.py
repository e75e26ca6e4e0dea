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

from segment.config import Config
from segment.features.snapshots import plan_snapshots
from segment.models.btyd import value_snapshots
from segment.models.timing import fit_timing, timing_grid
from segment.models.value import fit_value
from segment.models.value_baselines import purchase_day_summary
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for
from segment.pipeline.prepare import Prepared
from segment.pipeline.snapshot import build_snapshots
from segment.pipeline.valuing import ValueFits, fit_value_models


def before(data: Prepared, cfg: Config) -> ValueFits:
    """The value step before reuse (the code of `pipeline/valuing.py` at commit f24be4a)."""
    value, plans, timing, first = {}, {}, None, cfg.value.horizon_days[0]
    for h in cfg.value.horizon_days:
        plan = plan_snapshots(data.first, data.last, cfg.time.model_copy(update={"horizon_days": h}))
        grid, _ = timing_grid(cfg.value, h)
        snaps = value_snapshots(
            data.engine.con, [*plan.train, *plan.validation], horizon_days=h, grid_end=grid[-1],
            feature_horizon=cfg.time.horizon_days,
        )  # fmt: skip
        summary = purchase_day_summary(data.engine.con, plan.validation[-1])
        value[h], plans[h] = fit_value(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary), plan
        if h == first:
            timing = fit_timing(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary)
    return ValueFits(value, timing, plans)


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
