"""LightGBM fit time vs OMP_WAIT_POLICY and n_jobs, on a quiet and a deliberately loaded machine.

`python scripts/perf/lgbm_threads.py [--rows 100000] [--trees 300] [--timeout 150]`

Each (policy, n_jobs) fit runs in a fresh process, because the OpenMP runtime reads OMP_WAIT_POLICY once
at start-up. The fit is the pipeline's booster (`models/classifiers.py` `_booster` with the default
`LightGBMConfig`) on 100k synthetic rows of 35 features, with a fixed number of trees (no early stopping,
so every run does the same work). "Loaded" runs two busy-loop Python processes (one per core) at normal
priority for the duration of the fit. Prints one line per run with wall, CPU and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from itertools import product

CHILD = r"""
import json, os, sys, time, resource
import numpy as np
from segment.config import LightGBMConfig
from segment.models.classifiers import _booster
rows, trees, n_jobs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, 35))
y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(size=rows) > 0.8).astype(int)
b = _booster(LightGBMConfig(n_estimators=trees)).set_params(n_jobs=n_jobs)
t0, c0 = time.perf_counter(), time.process_time()
b.fit(X, y)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""

BUSY = "import time\nwhile True:\n    pass\n"


def fit(policy: str | None, n_jobs: int, rows: int, trees: int, timeout: float) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    load0 = os.getloadavg()[0]
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(rows), str(trees), str(n_jobs)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        r = {"wall": float("inf"), "cpu": float("nan")}
    return r | {"load1_before": load0, "load1_after": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=150)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--modes", default="quiet,loaded")
    a = ap.parse_args()
    for mode in a.modes.split(","):
        busy = []
        if mode == "loaded":
            busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(os.cpu_count() or 2)]
            time.sleep(2)
        try:
            for rep, (policy, n_jobs) in product(range(a.repeats), product([None, "PASSIVE"], [1, 2])):
                r = fit(policy, n_jobs, a.rows, a.trees, a.timeout)
                print(
                    json.dumps({"mode": mode, "rep": rep, "policy": policy or "unset", "n_jobs": n_jobs} | r),
                    flush=True,
                )
        finally:
            for p in busy:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
