"""`segment train`: transactions -> snapshots -> segments -> models, then everything recorded in MLflow.

`train` is the orchestrator: a short list of named steps. `fit` is the compute half, a plain
`TrainResult` from prepared data with no tracking store involved; `record.record_train` is the other
half and owns every MLflow call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from segment.config import Config, ModelsConfig
from segment.features.engine import DuckDBEngine
from segment.features.snapshots import SnapshotPlan, plan_snapshots
from segment.models import search
from segment.models.capped import TrainingSample, training_sample
from segment.models.clusters import Segmenter
from segment.models.sampling import sample_customers
from segment.models.splits import model_inputs
from segment.models.training import TargetResult, fit_targets
from segment.pipeline import checks, drift, record
from segment.pipeline.engines import prepare_for
from segment.pipeline.prepare import Prepared
from segment.pipeline.progress import meter, stage, warn
from segment.pipeline.segmenting import SegmentsResult, segment_customers
from segment.pipeline.snapshot import Snapshots, build_snapshots
from segment.pipeline.valuing import ValueFits, fit_value_models
from segment.schema import CUTOFF


@dataclass(frozen=True)
class TrainResult:
    """What training computed: the data, the plan, the snapshots, the segments and one fit per target."""

    data: Prepared
    plan: SnapshotPlan
    snapshots: Snapshots
    segments: SegmentsResult
    fits: dict[str, TargetResult]
    drift_reference: dict[str, dict]  # what `score` compares the scored population against
    warnings: tuple[str, ...] = ()  # about the data (short history, future dates): on stderr and in the report
    values: ValueFits = field(default_factory=ValueFits)  # value by horizon and timing (pipeline/valuing.py)
    sample: TrainingSample | None = None  # the training-row cap, when it cut (models/capped.py)
    validation_sample: TrainingSample | None = None  # the validation-row cap, when it cut

    @property
    def metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """Target -> model or baseline -> validation metric -> value."""
        return {t: fit.metrics for t, fit in self.fits.items()}


def bounded(labelled: pd.DataFrame, plan: SnapshotPlan, cfg: ModelsConfig) -> pd.DataFrame:
    """The training and validation cutoffs' rows cut to their caps by whole customers (the same seeded hash).

    DuckDB has cut them before the features were built (`training_sample`), so there the frame is
    returned as it is, uncopied (a copy was 1 GiB at 100M lines); another engine's frame is cut here.
    """
    seed = cfg.lightgbm.random_state
    parts, cut = [], False
    for cutoffs, cap in ((plan.train, cfg.max_training_rows), (plan.validation, cfg.max_validation_rows)):
        rows = labelled[labelled[CUTOFF].isin(cutoffs)]
        cut |= cap is not None and len(rows) > cap
        parts.append(sample_customers(rows, cap, seed))
    return pd.concat(parts, ignore_index=True) if cut else labelled


def data_warnings(data: Prepared, plan: SnapshotPlan) -> list[str]:
    """A short history, few cutoffs, lines dated after today: said before the long work starts."""
    found = checks.history_warnings(data.first, data.last, plan)
    found += [w for w in [checks.future_warning(checks.future_lines(data.engine, checks.today()), checks.today())] if w]
    for w in found:
        warn(w)
    return found


def fit(data: Prepared, cfg: Config, reference: Segmenter | None = None) -> TrainResult:
    """Snapshots, segments, both classifiers, value and timing; `reference` is the champion segmenter."""
    plan = plan_snapshots(data.first, data.last, cfg.time)
    validation = plan.validation[-1]
    cutoffs = [*plan.train, *plan.validation, data.last]
    found = data_warnings(data, plan)
    with stage(f"features at {len(cutoffs)} cutoffs ({plan.train[0]} .. {data.last})"):
        # DuckDB: the training-row cap chooses its customers first, so the full training frame is never built
        # (another engine: `bounded` below cuts the built frame, which keeps the same customers)
        sample = held_out = None
        if isinstance(data.engine, DuckDBEngine):
            seed, m = cfg.models.lightgbm.random_state, cfg.models
            sample = training_sample(data.engine, plan.train, m.max_training_rows, seed)
            held_out = training_sample(data.engine, plan.validation, m.max_validation_rows, seed, kind="validation")
        snaps = build_snapshots(
            data.engine, cutoffs, labelled=cutoffs[:-1], segmented=[validation, data.last], time=cfg.time,
            segments=cfg.segments, sample=sample, sampled=plan.train, validation_sample=held_out,
        )  # fmt: skip
    with stage("k-means segments"), meter("k tried") as tried:
        segments = segment_customers(
            snaps.segmented[data.last].with_segments(), snaps.segmented[validation].with_segments(),
            cfg.segments.clusters, reference, tried,
        )  # fmt: skip
    rows = bounded(snaps.labelled, plan, cfg.models)
    trials = cfg.models.search.trials
    label = "purchase model (churn = 1 - purchase)" + (f" (search: up to {trials} trials)" if trials else "")
    with stage(label), meter("search trials") as done:
        fits = fit_targets(
            rows, plan, cfg.models.lightgbm, search_cfg=cfg.models.search, season=cfg.models.season_step,
            bgnbd=cfg.models.bgnbd_baseline, progress=done,
        )  # fmt: skip
    reference_rows = snaps.labelled[snaps.labelled[CUTOFF] == validation]
    # one reference for both models; each feature's normal seasonal movement from the training cutoffs
    reference = drift.reference(
        reference_rows, model_inputs(reference_rows), history=snaps.labelled, lag_days=cfg.time.horizon_days
    )
    # the value step reuses the snapshot's features: at training cutoffs only the sampled customers' rows
    values = fit_value_models(data, cfg, known_features=snaps.features, sample=sample, validation_sample=held_out)
    return TrainResult(data, plan, snaps, segments, fits, reference, tuple(found), values, sample, held_out)


def train(cfg: Config, config_path: Path) -> record.TrainRecord:
    """Run the whole training pipeline and record it as one parent MLflow run with nested stage runs."""
    search.ensure_available(cfg.models.search)  # before any long work
    with stage("load and clean transactions"):
        data = prepare_for(cfg)  # DuckDB, or Spark with engine: spark
    reference = record.champion_segmenter(cfg.tracking)
    result = fit(data, cfg, reference)
    return record.record_train(result, cfg, config_path)
