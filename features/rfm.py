"""R, F and M quintile scores 1-5 (R reversed: recent buyers score high)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def quintile_score(values: pd.Series) -> pd.Series:
    """Score 1-5 by rank, higher value -> higher score.

    Equal values always get the same score (ties share the lowest rank), so the result does
    not depend on row order; with fewer than five distinct values some scores stay unused
    and the lowest value still scores 1.
    """
    n = len(values)
    if n == 0:
        return pd.Series([], dtype="int64", index=values.index)
    rank = values.rank(method="min", na_option="top")  # a missing value ranks lowest
    score = 1 + np.floor(5 * (rank - 1) / n)
    return score.clip(1, 5).astype("int64")


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """Return r_score, f_score, m_score for each row, ranked within its cutoff."""
    g = features.groupby("cutoff", sort=False)
    return pd.DataFrame(
        {
            "r_score": g["recency_days"].transform(lambda s: quintile_score(-s)),
            "f_score": g["frequency"].transform(quintile_score),
            "m_score": g["monetary"].transform(quintile_score),
        },
        index=features.index,
    )
