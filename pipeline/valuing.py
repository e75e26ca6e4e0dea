"""The train step of the value and timing models (issue 18): one value model per horizon, timing for the first.

Each horizon H of `value.horizon_days` gets its own snapshot plan (labels need H days after the last
validation cutoff); a horizon the data is too short for is skipped with a note, never a failure. The
first configured horizon is the segment table's: its value model is registered as `value` and the
timing model (grid cut to H) as `timing`; other horizons as `value_{H}d`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from segment.config import Config
from segment.errors import InputError
from segment.features.cutoff_tables import CutoffTables
from segment.features.snapshots import SnapshotPlan, plan_snapshots
from segment.models.btyd import value_snapshots
from segment.models.capped import TrainingSample
from segment.models.timing import TimingResult, fit_timing, timing_grid
from segment.models.value import ValueResult, fit_value
from segment.models.value_metrics import metric_names
from segment.pipeline.prepare import Prepared
from segment.pipeline.progress import stage, warn
from segment.schema import TIMING_MODEL, VALUE_MODEL


@dataclass(frozen=True)
class ValueFits:
    """Value fits by horizon (first = the segment table's), the timing fit, and why anything was skipped."""

    value: dict[int, ValueResult] = field(default_factory=dict)
    timing: TimingResult | None = None
    plans: dict[int, SnapshotPlan] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # e.g. value_365d_skipped -> why


def model_name(horizon_days: int, first: bool) -> str:
    """The registered model (and metric prefix) of a horizon: `value` for the first, `value_{H}d` for others."""
    return VALUE_MODEL if first else f"{VALUE_MODEL}_{horizon_days}d"


def value_metric_names(name: str, metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """Every metric of a value or timing fit under its stable name: `{name}_val_*`, `{name}_baseline_<b>_val_*`."""
    out = metric_names(name, metrics["model"])
    for baseline, m in metrics.items():
        if baseline != "model":
            out |= metric_names(name, m, baseline=baseline)
    return out


def fit_value_models(
    data: Prepared,
    cfg: Config,
    known_features: pd.DataFrame | None = None,
    sample: TrainingSample | None = None,
    validation_sample: TrainingSample | None = None,
) -> ValueFits:
    """For each H: plan, value snapshots (features + BTYD + labels), the value fit; timing for the first H.

    `known_features`: the snapshot step's customer features (`Snapshots.features`, built with the same
    `time.horizon_days`); their cutoffs are reused, so only cutoffs of other horizons' plans are computed.
    `sample`, `validation_sample`: the row caps the snapshot step applied (its rows are the known features'),
    for the cards.
    """
    value: dict[int, ValueResult] = {}
    plans: dict[int, SnapshotPlan] = {}
    notes: dict[str, str] = {}
    timing = None
    con = data.engine.con
    capped = {}  # the cap's customers where the snapshot step cut the training cutoffs (its plan's)
    if sample is not None:
        capped = {"customers": sample.customers, "sampled": sample.cutoffs}
    tables = CutoffTables(con, cfg.time.horizon_days, known_features, **capped)  # each cutoff built once
    first = cfg.value.horizon_days[0]
    for h in cfg.value.horizon_days:
        try:
            plan = plan_snapshots(data.first, data.last, cfg.time.model_copy(update={"horizon_days": h}))
        except InputError as e:
            notes[f"{model_name(h, h == first)}_skipped"] = f"value {h}d skipped: {e}"
            warn(f"value {h}d skipped: {e}")
            continue
        grid, _ = timing_grid(cfg.value, h)
        cutoffs = [*plan.train, *plan.validation]
        with stage(f"value model {h}d" + (" and timing model" if h == first else "")):
            snaps = value_snapshots(
                con, cutoffs, horizon_days=h, grid_end=grid[-1], feature_horizon=cfg.time.horizon_days, tables=tables
            )
            summary = tables.summary(plan.validation[-1])  # the BTYD baselines' input, built with the BTYD features
            btyd = tables.btyd.get(plan.validation[-1])  # and their models, fitted there for the BTYD features
            cap = {"max_rows": cfg.models.max_training_rows, "seed": cfg.models.lightgbm.random_state}
            if sample is not None and set(plan.train) == set(sample.cutoffs):  # capped by the snapshot step
                cap["rows_available"] = sample.rows_available
            if validation_sample is not None and set(plan.validation) == set(validation_sample.cutoffs):
                cap["validation_rows_available"] = validation_sample.rows_available
            value[h] = fit_value(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary, btyd=btyd, **cap)
            plans[h] = plan
            if h == first:
                timing = fit_timing(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary, btyd=btyd, **cap)
    if timing is None:
        notes[f"{TIMING_MODEL}_skipped"] = f"timing skipped: the first value horizon ({first}d) was skipped"
    return ValueFits(value, timing, plans, notes)
