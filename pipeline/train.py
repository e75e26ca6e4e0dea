"""`segment train`: transactions -> snapshots -> segments -> models -> MLflow. Steps only, no data logic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from segment.features import catalogue
from segment.features.customer import customer_features, model_feature_columns
from segment.features.gaps import gap_quantiles
from segment.features.labels import attach_labels, future_buyers
from segment.features.snapshots import SnapshotPlan, plan_snapshots
from segment.models import search
from segment.models.card import model_card
from segment.models.evaluation import binary_metrics, challenger_wins
from segment.models.segments import rule_based_segments
from segment.models.training import LABEL_COLUMNS, TargetResult, fit_target
from segment.pipeline import drift, plots, segmenting, tracking
from segment.pipeline.clean import DataReport
from segment.pipeline.config_file import flatten
from segment.pipeline.engines import prepare_for
from segment.pipeline.outputs import write_text
from segment.pipeline.prepare import data_span
from segment.pipeline.progress import stage
from segment.pipeline.reports import train_report

from segment.config import Config
from segment.errors import ModelRegistryError

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
    report_path: Path


def _challenge(result: TargetResult, cfg: Config) -> tuple[bool, str]:
    """Re-score the current champion on the new validation rows; the new model takes over if it is as good."""
    metric = cfg.models.champion_metric
    new = result.metrics["model"][metric]
    name = f"{cfg.tracking.model_prefix}{result.target}"
    try:
        ref = tracking.champion(name, tracking.tracking_uri(cfg.tracking))
    except ModelRegistryError:
        return True, f"first model: no champion to beat ({metric} {new:.4f})"
    model = tracking.load_pyfunc(ref)
    cols = model.metadata.get_input_schema().input_names()
    if not set(cols) <= set(result.X_val.columns):
        return True, f"new model wins: champion v{ref.version} cannot score today's features (inputs changed)"
    old = binary_metrics(result.y_val, np.asarray(model.predict(result.X_val[cols]))[:, 1])[metric]
    verdict = "new model wins" if challenger_wins(metric, new, old) else f"champion v{ref.version} kept"
    return challenger_wins(metric, new, old), f"{verdict}: {metric} {new:.4f} vs champion {old:.4f} ({new - old:+.4f})"


def _log_target(
    exp: str, result: TargetResult, cfg: Config, drift_reference: dict, plan: SnapshotPlan
) -> tuple[int, dict, str]:
    t = result.target
    figures = {
        f"plots/{t}_roc_pr.png": plots.roc_pr(result.y_val, result.scores, t),
        f"plots/{t}_calibration.png": plots.calibration(result.y_val, result.scores["model"], t),
        f"plots/{t}_gain.png": plots.gain(result.y_val, result.scores, t),
        f"plots/{t}_shap_importance.png": plots.importance(result.importance, t),
    }
    with tracking.run(exp, t, nested=True):
        tracking.log_params({f"{t}_{k}": v for k, v in result.rows.items()} | {f"{t}_features": len(result.features)})
        tracking.log_params({f"{t}_calibration": result.calibration.get("method", "none")})
        tracking.log_params({f"{t}_lgbm_{k}": v for k, v in result.params.model_dump().items()})
        for trial in result.trials:  # the search, one nested run per trial
            with tracking.run(exp, f"{t}_trial_{trial.number}", nested=True):
                tracking.log_params(trial.params)
                tracking.log_metrics(
                    {
                        "tuning_log_loss": trial.tuning_log_loss,
                        "best_iteration": trial.best_iteration,
                        "seconds": trial.seconds,
                    }
                )
        tracking.log_metrics({k: v for k, v in result.calibration.items() if isinstance(v, float)}, prefix=f"{t}_")
        tracking.set_tags({f"{t}_note_{k}": v for k, v in result.notes.items()})
        for name, m in result.metrics.items():
            prefix = f"{t}_val_" if name == "model" else f"{t}_baseline_{name}_val_"
            tracking.log_metrics(m, prefix=prefix)
        for name, fig in figures.items():
            tracking.log_figure(fig, name)
        tracking.log_json(drift_reference, "drift_reference.json")  # what `score` compares against
        tracking.log_frame(
            result.importance.rename("mean_abs_shap").rename_axis("feature").reset_index(),
            f"{t}_feature_importance.csv",
        )
        wins, decision = _challenge(result, cfg)
        tracking.set_tags({f"{t}_champion_decision": decision, f"{t}_is_champion": str(wins).lower()})
        ref = tracking.log_and_register(
            result.model,
            f"{cfg.tracking.model_prefix}{t}",
            result.X_example,
            predict_fn="predict_proba",
            set_champion=wins,
        )
        card = model_card(t, plan, result, cfg.time.churn_lookback_days, ref.version)
        card += f"\n**Registry.** {decision}\n"
        tracking.log_text(card, "model_card.md")
    tracking.log_metrics(result.metrics["model"], prefix=f"{t}_val_")  # on the parent too, for comparing runs
    tracking.set_tags({f"{t}_champion_decision": decision, f"{t}_is_champion": str(wins).lower()})
    return ref.version, figures, card


def train(cfg: Config, config_path: Path) -> TrainResult:
    """Run the whole training pipeline and log it as one parent MLflow run with nested stage runs."""
    search.ensure_available(cfg.models.search)  # before any long work
    with stage("load and clean transactions"):
        con, report = prepare_for(cfg)  # DuckDB, or Spark with engine: spark
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
        validation = snapshots[snapshots["cutoff"] == plan.validation[-1]].reset_index(drop=True)
        val_gaps = gap_quantiles(
            con,
            plan.validation[-1],
            loyal_orders=cfg.segments.lifecycle.loyal_orders,
            quantiles=(cfg.segments.lifecycle.active_quantile, cfg.segments.lifecycle.at_risk_quantile),
        )
        val_rules = rule_based_segments(validation, val_gaps, cfg.segments.rfm_rules, cfg.segments.lifecycle)

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
        tracking.log_text(catalogue.markdown(), "feature_catalogue.md")
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
            reference = segmenting.champion_segmenter(cfg, tracking.tracking_uri(cfg.tracking))
            seg, stability = segmenting.fit_segmenter(latest, cfg, reference)
            tables = segmenting.profiles(
                segmenting.with_clusters(latest, rules, seg), segmenting.with_clusters(validation, val_rules, seg)
            )
            example = latest[list(seg.features)]
            version, seg_figures = segmenting.log_segments(exp, seg, stability, tables, example, cfg)
            versions = {"segmenter": version}
        metrics, model_figures, cards = {}, {}, {}
        inputs = [c for c in model_feature_columns(validation) if c not in LABEL_COLUMNS]
        drift_ref = drift.reference(validation, inputs)  # one reference for both models
        for target in TARGETS:
            trials = cfg.models.search.trials
            with stage(f"{target} model" + (f" (search: up to {trials} trials)" if trials else "")):
                result = fit_target(snapshots, plan, target, cfg.models.lightgbm, search_cfg=cfg.models.search)
                versions[target], model_figures[target], cards[target] = _log_target(exp, result, cfg, drift_ref, plan)
                metrics[target] = result.metrics
        tracking.set_tags({f"{k}_version": str(v) for k, v in versions.items()} | {"k": str(seg.k_)})
        with stage("HTML report"):
            html = train_report(
                run_id,
                report,
                plan,
                tables,
                seg_figures,
                stability,
                metrics,
                model_figures,
                cfg.tracking.experiment,
                cards,
            )
            tracking.log_text(html, "report.html")
            report_path = write_text(Path(cfg.output.root) / "reports" / f"train-{run_id[:8]}.html", html)
    return TrainResult(run_id, report, plan, seg.k_, metrics, versions, report_path)
