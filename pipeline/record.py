"""Recording: what a train or score run leaves in MLflow, and the champion decisions.

The compute steps return plain results; this module turns them into runs (params, tags, metrics,
figures, artifacts), re-scores each current champion on the new validation rows, registers the models
with their cards and aliases, and writes the HTML train report. Every MLflow call goes through
`tracking`, the only module that imports mlflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from segment.config import Config, TrackingConfig
from segment.errors import ModelRegistryError
from segment.features import catalogue
from segment.models.card import model_card
from segment.models.clusters import Segmenter
from segment.models.gate import decide
from segment.models.training import TargetResult
from segment.pipeline import lineage, plots, tracking
from segment.pipeline.config_file import flatten
from segment.pipeline.outputs import write_text
from segment.pipeline.progress import info, stage
from segment.pipeline.record_value import record_values
from segment.pipeline.reports import train_report
from segment.pipeline.reports_value import train_sections
from segment.pipeline.segmenting import SegmentsResult
from segment.schema import EXPECTED_REVENUE, SEGMENTER, registered_name

if TYPE_CHECKING:
    from segment.pipeline.score import Scored
    from segment.pipeline.train import TrainResult


@dataclass(frozen=True)
class TrainRecord:
    """Where a train run was recorded: its run id, the registered versions and the report it wrote."""

    run_id: str
    versions: dict[str, int]
    decisions: dict[str, str]
    report_path: Path
    result: TrainResult


def champion_segmenter(cfg: TrackingConfig) -> Segmenter | None:
    """The registered champion segmenter (cluster ids are matched to it), if one that supports matching exists."""
    tracking.setup(cfg)
    try:
        ref = tracking.champion(registered_name(cfg.model_prefix, SEGMENTER), tracking.tracking_uri(cfg))
    except ModelRegistryError:
        return None
    try:
        model = tracking.load_sklearn(ref)
    except ModelRegistryError as e:  # unverifiable (no checksum, changed, outside the artifact root): not used
        info(f"[yellow]warning:[/yellow] the champion segmenter is not used to match cluster ids: {e}")
        return None
    return model if hasattr(model, "centroids_raw_") else None  # fitted before stable ids existed


def challenge(fit: TargetResult, cfg: Config) -> tuple[bool, str]:
    """Re-score the current champion on the new validation rows and apply the gate (`models/gate.py`)."""
    metric = cfg.models.champion_metric
    old, version = None, None  # no champion, or one that cannot score today's features: the first-model rule
    try:
        ref = tracking.champion(
            registered_name(cfg.tracking.model_prefix, fit.target), tracking.tracking_uri(cfg.tracking)
        )
    except ModelRegistryError:
        ref = None
    if ref is not None:
        try:
            model, version = tracking.load_pyfunc(ref), ref.version
        except ModelRegistryError:  # a champion that cannot be loaded safely cannot defend its place
            model = None
        if model is not None and set(tracking.input_names(model)) <= set(fit.X_val.columns):
            old = tracking.predict_positive(model, fit.X_val, fit.target)
    verdict = decide(fit.y_val, fit.scores["model"], old, fit.scores, cfg.models.gate)
    head = verdict.verdict if verdict.promote else f"champion v{version} kept"
    return verdict.promote, f"{head}: {metric} {fit.metrics['model'][metric]:.4f}; {verdict.reason}"


def _segments(exp: str, segments: SegmentsResult, cfg: Config) -> tuple[int, dict[str, Any]]:
    """Nested run `segments`: k search, stability, profiles, plots, the registered segmenter (always champion)."""
    seg = segments.segmenter
    figures = {
        f"plots/{scheme}_sizes.png": plots.segment_sizes(t, scheme.replace("_", " "))
        for scheme, t in segments.profiles.items()
    }
    too_small = frozenset(k for k, share in seg.min_shares_.items() if share < seg.min_share)
    figures["plots/kmeans_silhouette.png"] = plots.silhouette(seg.silhouette_scores_, seg.k_, too_small)
    figures["plots/centroid_heatmap.png"] = plots.centroid_heatmap(seg.centroid_frame(), seg.names_)
    with tracking.run(exp, "segments", nested=True):
        tracking.log_params({"k": seg.k_, "cluster_features": ",".join(seg.features)})
        tracking.set_tags({"k_reason": getattr(seg, "k_reason_", "")[:5000]})  # why this k won
        # the chosen k's values as plain metrics (what the runs table shows); every k tried as a series by step
        tracking.log_metrics(chosen_k_metrics(seg), prefix="kmeans_")
        for k, s in sorted(seg.silhouette_scores_.items()):
            tracking.log_metrics({"silhouette_by_k": s, "min_share_by_k": seg.min_shares_[k]}, prefix="kmeans_", step=k)
        tracking.log_metrics(segments.stability.metrics(), prefix="segments_")
        for scheme, table in segments.profiles.items():
            tracking.log_frame(table, f"profiles/{scheme}.csv")
        tracking.log_json(seg.names_, "profiles/cluster_names.json")
        for name, fig in figures.items():
            tracking.log_figure(fig, name)
        name = registered_name(cfg.tracking.model_prefix, SEGMENTER)
        ref = tracking.log_and_register(seg, name, segments.example, predict_fn="predict", set_champion=True)
    return ref.version, figures


def chosen_k_metrics(seg: Segmenter) -> dict[str, float]:
    """The chosen k, its silhouette and its smallest cluster's share."""
    return {"k": float(seg.k_), "silhouette": seg.silhouette_scores_[seg.k_], "min_share": seg.min_shares_[seg.k_]}


def _target(exp: str, fit: TargetResult, result: TrainResult, cfg: Config) -> tuple[int, str, dict, str]:
    """Nested run per target: params, search trials, metrics vs baselines, plots, challenge, registration, card."""
    t = fit.target
    figures = {
        f"plots/{t}_roc_pr.png": plots.roc_pr(fit.y_val, fit.scores, t),
        f"plots/{t}_calibration.png": plots.calibration(fit.y_val, fit.scores["model"], t),
        f"plots/{t}_gain.png": plots.gain(fit.y_val, fit.scores, t),
        f"plots/{t}_shap_importance.png": plots.importance(fit.importance, t),
    }
    with tracking.run(exp, t, nested=True):
        tracking.log_params({f"{t}_{k}": v for k, v in fit.rows.items()} | {f"{t}_features": len(fit.features)})
        tracking.log_params({f"{t}_calibration": fit.calibration.get("method", "none")})
        tracking.log_params({f"{t}_lgbm_{k}": v for k, v in fit.params.model_dump().items()})
        for trial in fit.trials:  # the search, one nested run per trial
            with tracking.run(exp, f"{t}_trial_{trial.number}", nested=True):
                tracking.log_params(trial.params)
                metrics = {"tuning_log_loss": trial.tuning_log_loss, "best_iteration": trial.best_iteration}
                tracking.log_metrics(metrics | {"seconds": trial.seconds})
        tracking.log_metrics({k: v for k, v in fit.calibration.items() if isinstance(v, float)}, prefix=f"{t}_")
        tracking.set_tags({f"{t}_note_{k}": v for k, v in fit.notes.items()})
        for name, m in fit.metrics.items():
            tracking.log_metrics(m, prefix=f"{t}_val_" if name == "model" else f"{t}_baseline_{name}_val_")
        for name, fig in figures.items():
            tracking.log_figure(fig, name)
        tracking.log_json(result.drift_reference, "drift_reference.json")
        importance = fit.importance.rename("mean_abs_shap").rename_axis("feature").reset_index()
        tracking.log_frame(importance, f"{t}_feature_importance.csv")
        wins, decision = challenge(fit, cfg)
        tracking.set_tags({f"{t}_champion_decision": decision, f"{t}_is_champion": str(wins).lower()})
        name = registered_name(cfg.tracking.model_prefix, t)
        ref = tracking.log_and_register(fit.model, name, fit.X_example, predict_fn="predict_proba", set_champion=wins)
        card = model_card(
            t, result.plan, fit, cfg.time.churn_lookback_days, ref.version, result.sample, result.validation_sample
        )
        card += f"\n**Registry.** {decision}\n"
        tracking.log_text(card, "model_card.md")
    tracking.log_metrics(fit.metrics["model"], prefix=f"{t}_val_")  # on the parent too, for comparing runs
    tracking.set_tags({f"{t}_champion_decision": decision, f"{t}_is_champion": str(wins).lower()})
    return ref.version, decision, figures, card


def _run_tags(result: TrainResult, cfg: Config, config_path: Path) -> dict[str, str]:
    report = result.data.report
    return {
        "data_fingerprint": lineage.fingerprint([(f.path, f.bytes, f.rows) for f in report.files]),
        "data_files": ", ".join(Path(f.path).name for f in report.files)[:5000],
        "config_hash": lineage.fingerprint(cfg.model_dump(mode="json")),
        "git_commit": lineage.git_commit(Path(__file__).parent),
        "config_path": str(config_path),
    }


def record_train(result: TrainResult, cfg: Config, config_path: Path) -> TrainRecord:
    """One parent `train` run with nested `segments` and per-target runs; the HTML report beside it."""
    exp = tracking.setup(cfg.tracking)
    report, plan, snaps = result.data.report, result.plan, result.snapshots
    with stage("record in MLflow"), tracking.run(exp, "train", tags=_run_tags(result, cfg, config_path)) as run_id:
        tracking.log_params(flatten(cfg))
        tracking.log_json(report.to_dict(), "data_report.json")
        tracking.log_text(catalogue.markdown(), "feature_catalogue.md")
        tracking.log_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), "config.yaml")
        snapshots = {"train": plan.train, "validation": plan.validation, "latest": result.data.last}
        tracking.log_json(snapshots, "snapshots.json")
        tracking.log_frame(snaps.segmented[result.data.last].gaps, "profiles/lifecycle_thresholds.csv")
        data_metrics = {"rows_in": report.rows_in, "rows_out": report.rows_out, "customers": report.customers}
        tracking.log_metrics(data_metrics | {"snapshot_rows": len(snaps.labelled)}, prefix="data_")
        version, seg_figures = _segments(exp, result.segments, cfg)
        tracking.log_metrics(chosen_k_metrics(result.segments.segmenter), prefix="kmeans_")  # parent: compare runs
        versions, decisions, model_figures, cards = {SEGMENTER: version}, {}, {}, {}
        for t, fit in result.fits.items():
            versions[t], decisions[t], model_figures[t], cards[t] = _target(exp, fit, result, cfg)
        valued = record_values(exp, result.values, cfg)  # value (per horizon) and timing: pipeline/record_value.py
        versions |= valued.versions
        decisions |= valued.decisions
        tracking.set_tags(
            {f"{k}_version": str(v) for k, v in versions.items()} | {"k": str(result.segments.segmenter.k_)}
        )
        html = train_report(
            run_id, report, plan, result.segments.profiles, seg_figures, result.segments.stability,
            result.metrics, model_figures, cfg.tracking.experiment, cards,
            segmenter=result.segments.segmenter,
            warnings=list(getattr(result, "warnings", ())),
            extra=train_sections(valued.metrics, valued.cards, valued.figures, result.values.notes),
        )  # fmt: skip
        tracking.log_text(html, "report.html")
        path = write_text(Path(cfg.output.root) / "reports" / f"train-{run_id[:8]}.html", html)
    tracking.promote_pending(run_id)  # every champion alias of this train moves now, together, after it succeeded
    return TrainRecord(run_id, versions, decisions, path, result)


def lineage_tags(train_run_ids: list[str], experiment_id: str) -> dict[str, str]:
    """Which train runs logged the models a score run used: a `train_run_ids` tag and a note with links.

    Not `mlflow.parentRunId`: a score run is not part of the train run (the UI would nest it there and
    hide it from the run list); it only used its models.
    """
    ids = [r for r in train_run_ids if r]
    if not ids:
        return {}
    links = "\n".join(f"- [{r[:8]}](#/experiments/{experiment_id}/runs/{r})" for r in ids)
    return {"train_run_ids": ",".join(ids), "mlflow.note.content": f"Models from train run(s):\n{links}\n"}


def record_score(scored: Scored, cfg: Config, html: str) -> None:
    """A `score` run: customers scored, mean probabilities, drift, the data report and the summary page."""
    exp = tracking.setup(cfg.tracking)
    drift = scored.drift
    tags = {"score_date": str(scored.score_date), "model_versions": scored.model_versions}
    model_runs = sorted(set(",".join(scored.table["run_id"].unique()).split(","))) if len(scored.table) else []
    tags |= lineage_tags(sorted({tracking.train_run_of(r) for r in model_runs if r}), exp)
    tags |= {"model_run_ids": ",".join(model_runs)} if model_runs else {}
    with tracking.run(exp, "score", tags=tags):
        tracking.log_metrics(
            {
                "customers": len(scored.table),
                "not_scored": scored.not_scored,
                "mean_churn_probability": float(np.mean(scored.table["churn_probability"])),
                "mean_purchase_probability": float(np.mean(scored.table["purchase_probability"])),
                "expected_revenue": float(scored.table[EXPECTED_REVENUE].sum(min_count=1)),  # NaN, skipped: no champion
                "drift_features_over_warn": sum(v > cfg.scoring.drift_warn_psi for v in drift.values()),
            },
            prefix="score_",
        )
        tracking.log_metrics({f"psi_{k}": v for k, v in drift.items()}, prefix="drift_")
        tracking.log_metrics(scored.actions.counts(), prefix="actions_")
        tracking.log_json(scored.report.to_dict(), "data_report.json")
        tracking.log_frame(pd.DataFrame(scored.summary), "segment_summary.csv")
        tracking.log_text(html, "summary.html")
