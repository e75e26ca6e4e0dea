"""Train step for segments: fit the segmenter against the champion, profile every scheme, log it all.

Kept apart from `train.py` so the orchestrator stays a short list of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from segment.models.clusters import Segmenter
from segment.models.profiles import outcome_rates, profile_with_outcomes, segment_profile
from segment.pipeline import plots, tracking

from segment.config import Config
from segment.errors import ModelRegistryError

SCHEMES = {"rfm_segments": "rfm_segment", "lifecycle": "lifecycle_stage", "clusters": "cluster_name"}


@dataclass(frozen=True)
class Stability:
    """How the new segmenter relates to the champion it replaces (None when there was none)."""

    matched: bool
    ids_moved: int
    customers_moved_share: float | None


def champion_segmenter(cfg: Config, uri: str) -> Segmenter | None:
    """The registered champion segmenter, if one exists that supports id matching."""
    try:
        ref = tracking.champion(f"{cfg.tracking.model_prefix}segmenter", uri)
    except ModelRegistryError:
        return None
    model = tracking.load_sklearn(ref)
    return model if hasattr(model, "centroids_raw_") else None  # fitted before stable ids existed


def fit_segmenter(latest: pd.DataFrame, cfg: Config, reference: Segmenter | None) -> tuple[Segmenter, Stability]:
    """Fit k-means on the latest snapshot, inheriting ids from `reference`."""
    c = cfg.segments.clusters
    missing = [f for f in c.features if f not in latest]
    if missing:
        raise ValueError(f"segments.clusters.features names unknown features {missing}")
    seg = Segmenter(tuple(c.features), c.k_min, c.k_max, c.sample_size, c.min_share, c.random_state)
    seg.fit(latest, reference=reference)
    moved = None
    if reference is not None and seg.matched_:
        moved = float(np.mean(reference.predict(latest) != seg.predict(latest)))
    return seg, Stability(seg.matched_, seg.ids_moved_, moved)


def with_clusters(frame: pd.DataFrame, rules: pd.DataFrame, seg: Segmenter) -> pd.DataFrame:
    """`frame` plus its rule-based segments and cluster id and name."""
    ids = seg.predict(frame)
    return pd.concat([frame.reset_index(drop=True), rules.reset_index(drop=True)], axis=1).assign(
        cluster_id=ids, cluster_name=seg.name_of(ids)
    )


def profiles(latest: pd.DataFrame, validation: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Scheme -> profile at the latest date, with outcome rates observed at the validation cutoff."""
    return {
        scheme: profile_with_outcomes(segment_profile(latest, latest[col]), outcome_rates(validation, validation[col]))
        for scheme, col in SCHEMES.items()
    }


def log_segments(
    exp: str, seg: Segmenter, stability: Stability, tables: dict[str, pd.DataFrame], example: pd.DataFrame, cfg: Config
) -> tuple[int, dict[str, Any]]:
    """Nested run `segments`: k search, stability, profiles, plots, the registered segmenter.

    Returns the registered version and the figures (artifact name -> figure) for the HTML report.
    """
    figures = {
        f"plots/{scheme}_sizes.png": plots.segment_sizes(t, scheme.replace("_", " ")) for scheme, t in tables.items()
    }
    figures["plots/kmeans_silhouette.png"] = plots.silhouette(seg.silhouette_scores_, seg.k_)
    figures["plots/centroid_heatmap.png"] = plots.centroid_heatmap(seg.centroid_frame(), seg.names_)
    with tracking.run(exp, "segments", nested=True):
        tracking.log_params({"k": seg.k_, "cluster_features": ",".join(seg.features)})
        tracking.set_tags({"k_reason": getattr(seg, "k_reason_", "")[:5000]})  # why this k won (models/clusters.py)
        for k, s in sorted(seg.silhouette_scores_.items()):
            tracking.log_metrics({"silhouette": s, "min_share": seg.min_shares_[k]}, prefix="kmeans_", step=k)
        tracking.log_metrics(stability_metrics(stability), prefix="segments_")
        for scheme, table in tables.items():
            tracking.log_frame(table, f"profiles/{scheme}.csv")
        tracking.log_json(seg.names_, "profiles/cluster_names.json")
        for name, fig in figures.items():
            tracking.log_figure(fig, name)
        ref = tracking.log_and_register(
            seg, f"{cfg.tracking.model_prefix}segmenter", example, predict_fn="predict", set_champion=True
        )
    return ref.version, figures


def stability_metrics(stability: Stability) -> dict[str, float]:
    """The stability figures as metrics (customers_moved_share only when there was a champion)."""
    moved = {"ids_moved": float(stability.ids_moved), "matched_to_champion": float(stability.matched)}
    if stability.customers_moved_share is not None:
        moved["customers_moved_share"] = stability.customers_moved_share
    return moved
