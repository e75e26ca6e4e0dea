"""`segment runs`: the latest train runs as one comparable table, read from the MLflow store."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient
from segment.pipeline import tracking

from segment.config import TrackingConfig
from segment.errors import ModelRegistryError

TARGETS = ("propensity", "churn")
METRICS = ("roc_auc", "pr_auc", "brier")


def latest_train_runs(cfg: TrackingConfig, limit: int) -> pd.DataFrame:
    """One row per train run, newest first: when, data, k, validation metrics, champion or not."""
    uri = tracking.tracking_uri(cfg)
    exp_id = tracking.setup(cfg)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.search_runs(
        [exp_id],
        filter_string="attributes.run_name = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    champions = {}
    for target in TARGETS:
        try:
            champions[target] = tracking.champion(f"{cfg.model_prefix}{target}", uri).version
        except ModelRegistryError:
            champions[target] = None
    rows = []
    for r in found:
        tags, m = r.data.tags, r.data.metrics
        row = {
            "run": r.info.run_id[:8],
            "started": pd.Timestamp(r.info.start_time, unit="ms").strftime("%Y-%m-%d %H:%M"),
            "status": r.info.status.lower(),
            "data": tags.get("data_fingerprint", "")[:8],
            "k": tags.get("k", ""),
        }
        for target in TARGETS:
            for metric in METRICS:
                row[f"{target[:5]} {metric}"] = m.get(f"{target}_val_{metric}", float("nan"))
        won = [t for t in TARGETS if champions[t] is not None and tags.get(f"{t}_version") == str(champions[t])]
        row["champion"] = ", ".join(won) or "-"
        rows.append(row)
    return pd.DataFrame(rows)
