"""The snapshot step, one for train and score: features, labels and rule segments at a set of cutoffs.

Train asks for every training and validation cutoff (labelled) plus the latest date; score asks for the
score date alone. Rule segments (RFM and lifecycle) are built only where they are used: at the
validation cutoff (profiles with observed outcomes), the latest date (the segmenter) and the score date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from segment.config import SegmentsConfig, TimeConfig
from segment.features.at_cutoffs import features_at
from segment.features.engine import Engine
from segment.features.gaps import gap_quantiles
from segment.features.labels import attach_labels, future_buyers
from segment.models.capped import TrainingSample, keep_sampled
from segment.models.segments import rule_based_segments
from segment.schema import CUTOFF


@dataclass(frozen=True)
class Snapshot:
    """The customers at one cutoff with their rule segments (row-aligned) and the gap thresholds used."""

    cutoff: date
    features: pd.DataFrame
    segments: pd.DataFrame
    gaps: pd.DataFrame

    def with_segments(self) -> pd.DataFrame:
        """Features and rule segments side by side."""
        return pd.concat([self.features, self.segments], axis=1)


@dataclass(frozen=True)
class Snapshots:
    """Every cutoff's features; the labelled ones with labels; rule segments where asked."""

    features: pd.DataFrame
    labelled: pd.DataFrame
    segmented: dict[date, Snapshot] = field(default_factory=dict)


def rule_segments(engine: Engine, features: pd.DataFrame, cutoff: date, cfg: SegmentsConfig) -> Snapshot:
    """RFM scores, RFM segment and lifecycle stage of one cutoff's customers (thresholds from its gaps)."""
    lc = cfg.lifecycle
    gaps = gap_quantiles(
        engine, cutoff, loyal_orders=lc.loyal_orders, quantiles=(lc.active_quantile, lc.at_risk_quantile)
    )
    rows = features.reset_index(drop=True)
    return Snapshot(cutoff, rows, rule_based_segments(rows, gaps, cfg.rfm_rules, lc), gaps)


def build_snapshots(
    engine: Engine,
    cutoffs: Sequence[date],
    *,
    labelled: Sequence[date] = (),
    segmented: Sequence[date] = (),
    time: TimeConfig,
    segments: SegmentsConfig,
    sample: TrainingSample | None = None,
    sampled: Sequence[date] = (),
    validation_sample: TrainingSample | None = None,
) -> Snapshots:
    """Features at every cutoff; labels at the `labelled` ones; rule segments at the `segmented` ones.

    With a `sample`, the `sampled` cutoffs (training's) have only the sampled customers' rows: their
    features are built for those customers alone. A `validation_sample` cuts its cutoffs' rows after the
    features are built (one cutoff: the one query is cheaper than copying the sample's lines).
    """
    # with BG/NBD's x (an input of the blend); running sums at many cutoffs, the per-cutoff query at one
    customers = sample.customers if sample is not None else None
    feats = features_at(engine, cutoffs, horizon_days=time.horizon_days, customers=customers, sampled=sampled)
    feats = keep_sampled(feats, validation_sample)
    labels = feats[feats[CUTOFF].isin(labelled)]
    if len(labelled):
        buyers = future_buyers(engine, labelled, time.horizon_days)
        labels = attach_labels(labels, buyers, lookback_days=time.churn_lookback_days)
    at = {}
    for c in segmented:
        source = labels if c in labelled else feats
        at[c] = rule_segments(engine, source[source[CUTOFF] == c], c, segments)
    return Snapshots(feats, labels.reset_index(drop=True), at)
