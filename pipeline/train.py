"""`segment train`: transactions -> snapshots -> segments -> models -> MLflow. Steps only, no data logic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from features.customer import customer_features
from features.gaps import gap_quantiles
from features.labels import attach_labels, future_buyers
from features.snapshots import SnapshotPlan, plan_snapshots
from models.clusters import Segmenter
from models.profiles import segment_profile
from models.segments import rule_based_segments
from models.training import TargetResult, fit_target
from pipeline import plots, tracking
from pipeline.clean import DataReport
from pipeline.config import Config, flatten
from pipeline.prepare import connect, data_span, prepare
from pipeline.progress import stage

TARGETS = ("churn", "propensity")


@dataclass
class TrainResult:
    """What a train run produced, for the CLI summary."""

    run_id: str
    report: DataReport
    plan: SnapshotPlan
    k: int
    metrics: dict[str, dict[str, dict[str, float]]]
    versions: dict[str, int]


def _fit_segmenter(latest: pd.DataFrame, cfg: Config) -> Segmenter:
    c = cfg.segments.clusters
    missing = [f for f in c.features if f not in latest]
    if missing:
        raise ValueError(f"segments.clusters.features names unknown features {missing}")
    return Segmenter(tuple(c.features), c.k_min, c.k_max, c.sample_size, c.min_share, c.random_state).fit(latest)


def _log_segments(exp: str, latest: pd.DataFrame, seg: Segmenter, rules: pd.DataFrame, cfg: Config) -> int:
    with tracking.run(exp, "segments", nested=True):
        tracking.log_params({"k": seg.k_, "cluster_features": ",".join(seg.features)})
        for k, s in sorted(seg.silhouette_scores_.items()):
            tracking.log_metrics({"silhouette": s, "min_share": seg.min_shares_[k]}, prefix="kmeans_", step=k)
        ids = seg.predict(latest)
        tracking.log_frame(segment_profile(latest, pd.Series(seg.name_of(ids))), "profiles/clusters.csv")
        tracking.log_frame(segment_profile(latest, rules["rfm_segment"]), "profiles/rfm_segments.csv")
        tracking.log_frame(segment_profile(latest, rules["lifecycle_stage"]), "profiles/lifecycle.csv")
        tracking.log_json(seg.names_, "profiles/cluster_names.json")
        tracking.log_figure(plots.silhouette(seg.silhouette_scores_, seg.k_), "plots/kmeans_silhouette.png")
        tracking.log_figure(plots.centroid_heatmap(seg.centroid_frame(), seg.names_), "plots/centroid_heatmap.png")
        ref = tracking.log_and_register(
            seg,
            f"{cfg.tracking.model_prefix}segmenter",
            latest[list(seg.features)],
            predict_fn="predict",
            set_champion=True,
        )
    return ref.version


def _log_target(exp: str, result: TargetResult, cfg: Config) -> int:
    t = result.target
    with tracking.run(exp, t, nested=True):
        tracking.log_params({f"{t}_{k}": v for k, v in result.rows.items()} | {f"{t}_features": len(result.features)})
        for name, m in result.metrics.items():
            prefix = f"{t}_val_" if name == "model" else f"{t}_baseline_{name}_val_"
            tracking.log_metrics(m, prefix=prefix)
        tracking.log_figure(plots.roc_pr(result.y_val, result.scores, t), f"plots/{t}_roc_pr.png")
        tracking.log_figure(plots.calibration(result.y_val, result.scores["model"], t), f"plots/{t}_calibration.png")
        ref = tracking.log_and_register(
            result.model,
            f"{cfg.tracking.model_prefix}{t}",
            result.X_example,
            predict_fn="predict_proba",
            set_champion=True,
        )
    tracking.log_metrics(result.metrics["model"], prefix=f"{t}_val_")  # on the parent too, for comparing runs
    return ref.version


def train(cfg: Config, config_path: Path) -> TrainResult:
    """Run the whole training pipeline and log it as one parent MLflow run with nested stage runs."""
    con = connect()
    with stage("load and clean transactions"):
        report = prepare(con, cfg.data)
    first, last = data_span(con)
    plan = plan_snapshots(first, last, cfg.time)
    cutoffs = [*plan.train, *plan.validation, last]
    with stage(f"features at {len(cutoffs)} cutoffs ({plan.train[0]} .. {last})"):
        feats = customer_features(con, cutoffs, horizon_days=cfg.time.horizon_days)
        labelled_cutoffs = [*plan.train, *plan.validation]
        buyers = future_buyers(con, labelled_cutoffs, cfg.time.horizon_days)
        snapshots = attach_labels(
            feats[feats["cutoff"].isin(labelled_cutoffs)], buyers, lookback_days=cfg.time.churn_lookback_days
        )
        latest = feats[feats["cutoff"] == last].reset_index(drop=True)
        gaps = gap_quantiles(
            con,
            last,
            loyal_orders=cfg.segments.lifecycle.loyal_orders,
            quantiles=(cfg.segments.lifecycle.active_quantile, cfg.segments.lifecycle.at_risk_quantile),
        )
        rules = rule_based_segments(latest, gaps, cfg.segments.rfm_rules, cfg.segments.lifecycle)

    exp = tracking.setup(cfg.tracking)
    tags = {
        "data_fingerprint": tracking.fingerprint([(f.path, f.bytes, f.rows) for f in report.files]),
        "data_files": ", ".join(Path(f.path).name for f in report.files)[:5000],
        "config_hash": tracking.fingerprint(cfg.model_dump(mode="json")),
        "git_commit": tracking.git_commit(Path(__file__).parent),
        "config_path": str(config_path),
    }
    with tracking.run(exp, "train", tags=tags) as run_id:
        tracking.log_params(flatten(cfg))
        tracking.log_json(report.to_dict(), "data_report.json")
        tracking.log_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), "config.yaml")
        tracking.log_json({"train": plan.train, "validation": plan.validation, "latest": last}, "snapshots.json")
        tracking.log_frame(gaps, "profiles/lifecycle_thresholds.csv")
        tracking.log_metrics(
            {
                "rows_in": report.rows_in,
                "rows_out": report.rows_out,
                "customers": report.customers,
                "snapshot_rows": len(snapshots),
            },
            prefix="data_",
        )
        with stage("k-means segments"):
            seg = _fit_segmenter(latest, cfg)
            versions = {"segmenter": _log_segments(exp, latest, seg, rules, cfg)}
        metrics = {}
        for target in TARGETS:
            with stage(f"{target} model"):
                result = fit_target(snapshots, plan, target, cfg.models.lightgbm)
                versions[target] = _log_target(exp, result, cfg)
                metrics[target] = result.metrics
        tracking.set_tags({f"{k}_version": str(v) for k, v in versions.items()})
    return TrainResult(run_id, report, plan, seg.k_, metrics, versions)
