"""Fit time and validation quality against the training-row cap (models/sampling.py).

`python scripts/perf/training_cap.py FILE [--caps 50000,100000,200000,0]`

Builds the training snapshots of FILE as `segment train` does (default time config), then for each cap
keeps a seeded sample of whole customers among the training-cutoff rows (validation rows untouched) and
fits both targets with `fit_targets` (BG/NBD off), printing training rows, fit CPU and wall, and the
validation PR-AUC / ROC-AUC with the load average. Cap 0 means no cap.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before lightgbm loads: imports are inside main()


def main() -> None:
    import pandas as pd
    import yaml

    from bench.generate import COLUMNS
    from segment.features.customer import customer_features
    from segment.features.engine import DuckDBEngine
    from segment.features.labels import attach_labels, future_buyers
    from segment.features.snapshots import plan_snapshots
    from segment.models.sampling import sample_customers
    from segment.models.training import fit_targets
    from segment.pipeline.config_file import load_config
    from segment.pipeline.prepare import connect, data_span, prepare

    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--caps", default="50000,100000,200000,0")
    a = ap.parse_args()
    cfg_path = a.file.with_suffix(".cap.yaml")
    cfg_path.write_text(yaml.safe_dump({"data": {"source": [str(a.file)], "columns": COLUMNS}}))
    cfg = load_config(cfg_path)
    con = connect()
    prepare(con, cfg.data)
    first, last = data_span(con)
    plan = plan_snapshots(first, last, cfg.time)
    cutoffs = [*plan.train, *plan.validation]
    feats = customer_features(DuckDBEngine(con), cutoffs, horizon_days=cfg.time.horizon_days)
    buyers = future_buyers(con, cutoffs, cfg.time.horizon_days)
    snaps = attach_labels(feats, buyers, lookback_days=cfg.time.churn_lookback_days)
    is_train = snaps["cutoff"].isin(plan.train)
    print(json.dumps({"snapshot_rows": len(snaps), "training_cutoff_rows": int(is_train.sum())}), flush=True)
    for cap in (int(c) for c in a.caps.split(",")):
        part = sample_customers(snaps[is_train], cap or None, seed=0)
        capped = pd.concat([part, snaps[~is_train]], ignore_index=True)
        for target in ("churn", "propensity"):
            load = os.getloadavg()[0]
            w, c = time.perf_counter(), time.process_time()
            r = fit_targets(capped, plan, cfg.models.lightgbm, bgnbd=False)[target]
            out = {"cap": cap, "target": target, "train_rows": r.rows["train_rows"] + r.rows["tuning_rows"]}
            out |= {"wall": round(time.perf_counter() - w, 1), "cpu": round(time.process_time() - c, 1)}
            out |= {k: round(r.metrics["model"][k], 4) for k in ("pr_auc", "roc_auc")}
            print(json.dumps(out | {"trees": r.rows["best_iteration"], "load1": round(load, 1)}), flush=True)


if __name__ == "__main__":
    main()
