"""What SHAP importance costs next to the fit, on the full validation rows and on samples.

`python scripts/perf/shap_cost.py [--rows 100000] [--val 300000]`

Fits the pipeline's booster (early stopping as in the pipeline) on ROWS synthetic rows of 35 features,
then times `models.evaluation.shap_importance` on VAL rows and on samples of 10k / 50k rows, and how
far the sampled importances are from the full ones (largest absolute difference relative to the
largest importance; same top-10 ranking or not).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--val", type=int, default=300_000)
    a = ap.parse_args()
    import numpy as np
    import pandas as pd

    from segment.config import LightGBMConfig
    from segment.models.classifiers import fit_classifier
    from segment.models.evaluation import shap_importance

    rng = np.random.default_rng(0)
    n = a.rows + a.val
    X = pd.DataFrame(rng.normal(size=(n, 35)), columns=[f"f{i}" for i in range(35)])
    X["country"] = rng.choice(["United Kingdom", "Germany", "France"], n)
    logit = X["f0"] + 0.5 * X["f1"] * X["f2"] - 0.3 * X["f3"] ** 2
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int))
    cut = int(a.rows * 0.8)
    out: dict = {"load1": os.getloadavg()[0]}
    w, c = time.perf_counter(), time.process_time()
    model = fit_classifier(X[:cut], y[:cut], X[cut : a.rows], y[cut : a.rows], LightGBMConfig())
    out["fit"] = {"wall": round(time.perf_counter() - w, 2), "cpu": round(time.process_time() - c, 2)}
    out["trees"] = int(model.named_steps["model"].best_iteration_)
    val = X[a.rows :]
    full = None
    for size in (len(val), 50_000, 10_000):
        part = val.sample(n=size, random_state=0) if size < len(val) else val
        w, c = time.perf_counter(), time.process_time()
        imp = shap_importance(model, part)
        r = {"wall": round(time.perf_counter() - w, 2), "cpu": round(time.process_time() - c, 2)}
        if full is None:
            full = imp
        else:
            r["max_rel_diff"] = round(float((imp - full[imp.index]).abs().max() / full.max()), 4)
            r["same_top10"] = list(imp.index[:10]) == list(full.index[:10])
        out[f"shap_{size}"] = r
    out["load1_after"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
