"""Rule-based segments: named RFM groups and the lifecycle grid. Every customer gets exactly one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segment.config import LifecycleConfig, RfmRule
from segment.features.rfm import rfm_scores

STAGES = ("new", "one_time", "repeat", "loyal")
ACTIVITY = ("active", "at_risk", "lapsed")


def assign_rfm_segments(scores: pd.DataFrame, rules: list[RfmRule]) -> pd.Series:
    """Name each row by the first rule (in config order) its r/f/m scores match."""
    out = pd.Series(pd.NA, index=scores.index, dtype="object")
    r, f, m = (scores[c].to_numpy() for c in ("r_score", "f_score", "m_score"))
    for rule in rules:
        hit = (
            out.isna().to_numpy()
            & (r >= rule.r[0])
            & (r <= rule.r[1])
            & (f >= rule.f[0])
            & (f <= rule.f[1])
            & (m >= rule.m[0])
            & (m <= rule.m[1])
        )
        out[hit] = rule.name
    if out.isna().any():  # config validation guarantees coverage of 1..5; scores outside it are a bug
        raise ValueError(f"{int(out.isna().sum())} rows match no RFM rule: scores outside 1-5?")
    return out.astype(str)


def lifecycle_thresholds(gaps: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Bucket -> (active_days, at_risk_days); buckets with no gaps borrow from the nearest one."""
    known = {row.bucket: (float(row.active_days), float(row.at_risk_days)) for row in gaps.itertuples()}
    fallback = next((known[b] for b in ("one", "repeat", "loyal") if b in known), (90.0, 180.0))
    out = {}
    for b in ("one", "repeat", "loyal"):
        out[b] = known.get(b) or out.get("one") or fallback
    return out


def assign_lifecycle(
    features: pd.DataFrame, thresholds: dict[str, tuple[float, float]], cfg: LifecycleConfig
) -> pd.Series:
    """`{stage}_{activity}` per customer, e.g. `repeat_at_risk`."""
    freq, tenure, rec = (features[c].to_numpy() for c in ("frequency", "tenure_days", "recency_days"))
    stage = np.select(
        [tenure < cfg.new_days, freq <= 1, freq < cfg.loyal_orders], ["new", "one_time", "repeat"], "loyal"
    )
    # thresholds follow the order count: recency is the still-open gap after the customer's n-th order
    bucket = np.select([freq <= 1, freq < cfg.loyal_orders], ["one", "repeat"], "loyal")
    active = np.array([thresholds[b][0] for b in bucket])
    at_risk = np.array([thresholds[b][1] for b in bucket])
    activity = np.select([rec <= active, rec <= at_risk], ["active", "at_risk"], "lapsed")
    return pd.Series(np.char.add(np.char.add(stage.astype(str), "_"), activity.astype(str)), index=features.index)


def rule_based_segments(
    features: pd.DataFrame, gaps: pd.DataFrame, rules: list[RfmRule], lifecycle: LifecycleConfig
) -> pd.DataFrame:
    """RFM scores, RFM segment and lifecycle stage for each customer of one cutoff."""
    scores = rfm_scores(features)
    return scores.assign(
        rfm_segment=assign_rfm_segments(scores, rules),
        lifecycle_stage=assign_lifecycle(features, lifecycle_thresholds(gaps), lifecycle),
    )
