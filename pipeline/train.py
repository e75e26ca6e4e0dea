"""`segment train`: transactions -> snapshots -> segments -> models, then everything recorded in MLflow.

`train` is the orchestrator: a short list of named steps. `fit` is the compute half, a plain
`TrainResult` from prepared data with no tracking store involved; `record.record_train` is the other
half and owns every MLflow call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segment.config import Config
from segment.features.snapshots import SnapshotPlan, plan_snapshots
from segment.models import search
from segment.models.clusters import Segmenter
from segment.models.training import TargetResult, fit_target
from segment.pipeline import drift, record
from segment.pipeline.prepare import Prepared, prepare_data
from segment.pipeline.progress import stage
from segment.pipeline.segmenting import SegmentsResult, segment_customers
from segment.pipeline.snapshot import Snapshots, build_snapshots
from segment.schema import CUTOFF, TARGETS


@dataclass(frozen=True)
class TrainResult:
    """What training computed: the data, the plan, the snapshots, the segments and one fit per target."""

    data: Prepared
    plan: SnapshotPlan
    snapshots: Snapshots
    segments: SegmentsResult
    fits: dict[str, TargetResult]
    drift_reference: dict[str, dict]  # what `score` compares the scored population against

    @property
    def metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """Target -> model or baseline -> validation metric -> value."""
        return {t: fit.metrics for t, fit in self.fits.items()}


def fit(data: Prepared, cfg: Config, reference: Segmenter | None = None) -> TrainResult:
    """Snapshots, segments and both models from prepared data; `reference` is the champion segmenter."""
    plan = plan_snapshots(data.first, data.last, cfg.time)
    validation = plan.validation[-1]
    cutoffs = [*plan.train, *plan.validation, data.last]
    with stage(f"features at {len(cutoffs)} cutoffs ({plan.train[0]} .. {data.last})"):
        snaps = build_snapshots(
            data.engine, cutoffs, labelled=cutoffs[:-1], segmented=[validation, data.last], time=cfg.time,
            segments=cfg.segments,
        )  # fmt: skip
    with stage("k-means segments"):
        segments = segment_customers(
            snaps.segmented[data.last].with_segments(), snaps.segmented[validation].with_segments(),
            cfg.segments.clusters, reference,
        )  # fmt: skip
    fits = {}
    for target in TARGETS:
        trials = cfg.models.search.trials
        with stage(f"{target} model" + (f" (search: up to {trials} trials)" if trials else "")):
            fits[target] = fit_target(snaps.labelled, plan, target, cfg.models.lightgbm, search_cfg=cfg.models.search)
    reference_rows = snaps.labelled[snaps.labelled[CUTOFF] == validation]
    return TrainResult(data, plan, snaps, segments, fits, drift.reference(reference_rows, fits[TARGETS[0]].features))


def train(cfg: Config, config_path: Path) -> record.TrainRecord:
    """Run the whole training pipeline and record it as one parent MLflow run with nested stage runs."""
    search.ensure_available(cfg.models.search)  # before any long work
    with stage("load and clean transactions"):
        data = prepare_data(cfg.data)
    reference = record.champion_segmenter(cfg.tracking)
    result = fit(data, cfg, reference)
    return record.record_train(result, cfg, config_path)
