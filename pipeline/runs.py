"""`segment runs`: the latest train runs as one comparable table, read from the MLflow store."""

from __future__ import annotations

import pandas as pd

from segment.config import TrackingConfig
from segment.pipeline import model_safety, tracking
from segment.schema import TARGETS, registered_name

METRICS = ("roc_auc", "pr_auc", "brier")


def latest_train_runs(cfg: TrackingConfig, limit: int) -> pd.DataFrame:
    """One row per train run, newest first: when, data, k, validation metrics, champion or not."""
    uri = tracking.tracking_uri(cfg)
    runs = tracking.train_runs(cfg, limit)
    champions = {t: tracking.champion_version(registered_name(cfg.model_prefix, t), uri) for t in TARGETS}
    rows = []
    for r in runs:
        row = {
            "run": r.run_id[:8],
            "started": pd.Timestamp(r.start_time_ms, unit="ms").strftime("%Y-%m-%d %H:%M"),
            "status": r.status.lower() + (" (process died)" if r.tags.get(model_safety.DIED_TAG) else ""),
            "data": r.tags.get("data_fingerprint", "")[:8],
            "k": r.tags.get("k", ""),
        }
        for target in sorted(TARGETS, reverse=True):  # propensity first: the model marketing uses most
            for metric in METRICS:
                row[f"{target[:5]} {metric}"] = r.metrics.get(f"{target}_val_{metric}", float("nan"))
        won = [t for t in TARGETS if champions[t] is not None and r.tags.get(f"{t}_version") == str(champions[t])]
        row["champion"] = ", ".join(won) or "-"
        rows.append(row)
    return pd.DataFrame(rows)
