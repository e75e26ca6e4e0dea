"""`segment runs`: the latest train runs as one comparable table, read from the MLflow store.

Three layouts of the same rows, by terminal width: every metric side by side (wide), the two metrics that
decide most questions with short headers (an 80-column terminal), or one block of lines per run (narrower).
"""

from __future__ import annotations

import pandas as pd

from segment.config import TrackingConfig
from segment.errors import ModelRegistryError
from segment.pipeline import model_safety, tracking
from segment.schema import TARGETS, TIMING_MODEL, VALUE_MODEL, registered_name

METRICS = ("roc_auc", "pr_auc", "brier")
# the value and timing models' headline metrics (the parent run's `value_val_*`, `timing_val_*`; docs/models.md)
VALUE_METRICS = {VALUE_MODEL: ("spearman", "bias"), TIMING_MODEL: ("mae_days", "ece_30")}
CHAMPIONED = (*TARGETS, VALUE_MODEL, TIMING_MODEL)  # the models whose champion a run may hold
WIDE = 190  # columns from which every metric fits side by side, nothing cut (measured with rich)
NARROW = 64  # below this, one block per run
SHORT = {
    "propensity": "prop", "churn": "churn", "roc_auc": "AUC", "pr_auc": "PR", "brier": "Brier",
    VALUE_MODEL: "value", TIMING_MODEL: "time", "spearman": "Spear", "gini": "Gini", "bias": "bias",
    "mae_days": "MAE d", "ece_30": "ECE30",
}  # fmt: skip


def latest_train_runs(cfg: TrackingConfig, limit: int) -> pd.DataFrame:
    """One row per train run, newest first: when, data, k, validation metrics, champion or not."""
    uri = tracking.tracking_uri(cfg)
    runs = tracking.train_runs(cfg, limit)
    champions = {t: champion_version(registered_name(cfg.model_prefix, t), uri) for t in CHAMPIONED}
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
        for model, names in VALUE_METRICS.items():  # NaN for runs trained before these models
            for metric in names:
                row[f"{model} {metric}"] = r.metrics.get(f"{model}_val_{metric}", float("nan"))
        won = [t for t in CHAMPIONED if champions[t] is not None and r.tags.get(f"{t}_version") == str(champions[t])]
        row["champion"] = short_champions(won)
        rows.append(row)
    return pd.DataFrame(rows)


def compact(df: pd.DataFrame) -> pd.DataFrame:
    """The 80-column table: short date, propensity ROC-AUC, value Spearman, timing MAE in days, champions.

    Churn is 1 - propensity (one purchase model), so its ROC-AUC adds little here; every other metric is in
    the wide table and the blocks.
    """
    out = pd.DataFrame(
        {
            "run": [r if s == "finished" else f"{r} ({s})" for r, s in zip(df["run"], df["status"], strict=True)],
            "started": df["started"].str[5:],  # MM-DD HH:MM: the year is rarely the question
            "data": df["data"].str[:6],
            "k": df["k"],
        }
    )
    out[f"{SHORT['propensity']}\n{SHORT['roc_auc']}"] = df["prope roc_auc"]
    for model, metric in ((VALUE_MODEL, "spearman"), (TIMING_MODEL, "mae_days")):
        out[f"{SHORT[model]}\n{SHORT[metric]}"] = df[f"{model} {metric}"]
    out["champion"] = df["champion"]
    return out


def short_champions(won: list[str]) -> str:
    """The champions a run holds: `all`, `-` for none, else short names (`churn, prop`) that fit 80 columns."""
    return "all" if set(won) == set(CHAMPIONED) else ", ".join(SHORT.get(n, n) for n in won) or "-"


def blocks(df: pd.DataFrame) -> list[str]:
    """One short block of lines per run, for terminals too narrow for any table."""
    out = []
    for row in df.to_dict("records"):
        lines = [f"run {row['run']}  {row['started']}  {row['status']}", f"  data {row['data']}  k {row['k']}"]
        for target in sorted(TARGETS, reverse=True):
            values = "  ".join(f"{SHORT[m]} {row[f'{target[:5]} {m}']:.3f}" for m in METRICS)
            lines.append(f"  {target:<10} {values}")
        for model, names in VALUE_METRICS.items():
            values = "  ".join(f"{SHORT[m]} {row[f'{model} {m}']:.3f}" for m in names)
            lines.append(f"  {model:<10} {values}")
        lines.append(f"  champion: {row['champion']}")
        out.append("\n".join(lines))
    return out


def champion_version(name: str, uri: str) -> int | None:
    """The champion's version number, or None when there is none."""
    try:
        return tracking.champion(name, uri).version
    except ModelRegistryError:
        return None
