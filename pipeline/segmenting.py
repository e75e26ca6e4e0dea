"""Train step for segments: fit the segmenter against the champion's ids and profile every scheme."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segment.config import ClusterConfig
from segment.models.clusters import Segmenter
from segment.models.profiles import outcome_rates, profile_with_outcomes, segment_profile
from segment.schema import SCHEMES


@dataclass(frozen=True)
class Stability:
    """How the new segmenter relates to the champion it replaces (None when there was none)."""

    matched: bool
    ids_moved: int
    customers_moved_share: float | None

    def metrics(self) -> dict[str, float]:
        """The stability figures as metrics (customers_moved_share only when there was a champion)."""
        out = {"ids_moved": float(self.ids_moved), "matched_to_champion": float(self.matched)}
        if self.customers_moved_share is not None:
            out["customers_moved_share"] = self.customers_moved_share
        return out


@dataclass(frozen=True)
class SegmentsResult:
    """The fitted segmenter, its stability against the champion, and one profile table per scheme."""

    segmenter: Segmenter
    stability: Stability
    profiles: dict[str, pd.DataFrame]
    example: pd.DataFrame  # input rows for the registered model's signature


def fit_segmenter(
    latest: pd.DataFrame, cfg: ClusterConfig, reference: Segmenter | None, progress=None
) -> tuple[Segmenter, Stability]:
    """Fit k-means on the latest snapshot, inheriting ids from `reference` (the champion, if any)."""
    missing = [f for f in cfg.features if f not in latest]
    if missing:
        raise ValueError(f"segments.clusters.features names unknown features {missing}")
    seg = Segmenter(tuple(cfg.features), cfg.k_min, cfg.k_max, cfg.sample_size, cfg.min_share, cfg.random_state)
    seg.fit(latest, reference=reference, progress=progress)
    moved = None
    if reference is not None and seg.matched_:
        moved = float(np.mean(reference.predict(latest) != seg.predict(latest)))
    return seg, Stability(seg.matched_, seg.ids_moved_, moved)


def with_clusters(frame: pd.DataFrame, seg: Segmenter) -> pd.DataFrame:
    """`frame` (features and rule segments) plus each row's cluster id and name."""
    ids = seg.predict(frame)
    return frame.assign(cluster_id=ids, cluster_name=seg.name_of(ids))


def profiles(latest: pd.DataFrame, validation: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Scheme -> profile at the latest date, with outcome rates observed at the validation cutoff."""
    return {
        scheme: profile_with_outcomes(segment_profile(latest, latest[col]), outcome_rates(validation, validation[col]))
        for scheme, col in SCHEMES.items()
    }


def segment_customers(
    latest: pd.DataFrame, validation: pd.DataFrame, cfg: ClusterConfig, reference: Segmenter | None, progress=None
) -> SegmentsResult:
    """Fit the segmenter on the latest customers and profile every scheme (both frames carry rule segments)."""
    seg, stability = fit_segmenter(latest, cfg, reference, progress)
    tables = profiles(with_clusters(latest, seg), with_clusters(validation, seg))
    return SegmentsResult(seg, stability, tables, latest[list(seg.features)])
