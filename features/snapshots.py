"""Which cutoffs to train and validate on: temporal, never a random split across time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from segment.config import TimeConfig
from segment.errors import InputError


@dataclass(frozen=True)
class SnapshotPlan:
    """Training and validation cutoffs (dates; a cutoff includes its whole day)."""

    train: tuple[date, ...]
    validation: tuple[date, ...]
    horizon_days: int

    def __post_init__(self) -> None:
        gap = timedelta(days=self.horizon_days)
        if not self.train or not self.validation:
            raise ValueError("a snapshot plan needs at least one training and one validation cutoff")
        if max(self.train) + gap > min(self.validation):
            raise ValueError("training labels would overlap the validation window: leakage")


def plan_snapshots(first_day: date, last_day: date, cfg: TimeConfig, min_history_days: int = 28) -> SnapshotPlan:
    """Cutoffs stepping back from the last date whose label window is complete.

    Validation takes the latest labelled cutoff(s); training cutoffs end at least one horizon
    earlier, so no training label looks into the validation label window. Cutoffs with less
    than `min_history_days` of history are dropped.
    """
    step, horizon = timedelta(days=cfg.snapshot_step_days), timedelta(days=cfg.horizon_days)
    latest = last_day - horizon
    earliest = first_day + timedelta(days=min_history_days)
    validation = tuple(sorted(latest - i * step for i in range(cfg.validation_snapshots)))
    start = validation[0] - horizon
    train = tuple(sorted(c for c in (start - i * step for i in range(cfg.train_snapshots)) if c >= earliest))
    if not train or validation[0] < earliest:
        span = (last_day - first_day).days
        raise InputError(
            f"the data spans {span} days, too short for a {cfg.horizon_days}-day horizon with a held-out "
            f"validation snapshot (needs more than {2 * cfg.horizon_days + min_history_days} days)"
        )
    return SnapshotPlan(train=train, validation=validation, horizon_days=cfg.horizon_days)
