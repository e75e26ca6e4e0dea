"""Where the time of registering one model goes, against a throwaway SQLite store.

`python scripts/perf/register_cost.py STORE_DIR [--pip-requirements] [--profile]`

Fits the pipeline's churn-like model (preprocessing + LightGBM + isotonic calibration) on 100k synthetic
rows of 35 features, then times, each on its own: the signature, skops' trusted-type scan, and
`tracking.log_and_register` (log + register + alias), all inside one MLflow run. With
`--pip-requirements`, `_log_model` is told the requirements instead of inferring them. Prints wall and
CPU per step and the load average.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _timed(label, fn, out):
    w, c = time.perf_counter(), time.process_time()
    r = fn()
    out[label] = {"wall": round(time.perf_counter() - w, 3), "cpu": round(time.process_time() - c, 3)}
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", type=Path)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--name", default="churn")
    a = ap.parse_args()
    import numpy as np
    import pandas as pd
    import skops.io
    from mlflow.models import infer_signature

    from segment.config import LightGBMConfig, TrackingConfig
    from segment.models.calibration import calibrate
    from segment.models.classifiers import fit_classifier
    from segment.pipeline import tracking

    rng = np.random.default_rng(0)
    n = 100_000
    X = pd.DataFrame(rng.normal(size=(n, 35)), columns=[f"f{i}" for i in range(35)])
    X["country"] = rng.choice(["United Kingdom", "Germany", "France"], n)
    y = pd.Series((X["f0"] + rng.normal(size=n) > 0.8).astype(int))
    times: dict = {"load1": os.getloadavg()[0]}
    booster = _timed(
        "fit",
        lambda: fit_classifier(X[:60000], y[:60000], X[60000:80000], y[60000:80000], LightGBMConfig(n_estimators=300)),
        times,
    )
    model, _ = calibrate(booster, X[80000:], y[80000:].to_numpy())
    a.store.mkdir(parents=True, exist_ok=True)
    cfg = TrackingConfig(
        uri=f"sqlite:///{a.store}/mlflow.db", artifact_root=str(a.store / "mlartifacts"), experiment="reg"
    )
    exp = _timed("setup", lambda: tracking.setup(cfg), times)
    example = X.head(200)
    _timed("signature", lambda: infer_signature(example, model.predict_proba(example)), times)
    _timed("skops_scan", lambda: skops.io.get_untrusted_types(data=skops.io.dumps(model)), times)
    with tracking.run(exp, "reg"):
        prof = cProfile.Profile() if a.profile else None
        if prof:
            prof.enable()
        _timed(
            "log_and_register",
            lambda: tracking.log_and_register(model, a.name, example, predict_fn="predict_proba", set_champion=True),
            times,
        )
        if prof:
            prof.disable()
    times["load1_after"] = os.getloadavg()[0]
    print(json.dumps(times))
    if prof:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
