"""Assemble the segment table of DESIGN §8 from features, segments and model outputs."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from segment.config import ScoringConfig
from segment.models.evaluation import deciles
from segment.pipeline.scoring_value import empty_value_columns
from segment.schema import CUSTOMER_ID, SCHEME_COLUMNS, SCORE_DATE, SEGMENT_TABLE, SEGMENT_TABLE_COLUMNS


def churn_risk(p: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """Low / medium / high by the configured thresholds."""
    return np.select([p < thresholds[0], p < thresholds[1]], ["low", "medium"], "high")


def churn_risk_by_rank(p: np.ndarray, ids: np.ndarray, quantiles: tuple[float, float]) -> np.ndarray:
    """Low / medium / high by rank: medium from the first quantile up, high from the second (ties by id).

    Fixed thresholds on a probability whose level moves with the season put 76-79 % of customers in
    "high"; rank quantiles keep the bands the sizes marketing planned for.
    """
    share = rank_share(p, ids)
    return np.select([share < quantiles[0], share < quantiles[1]], ["low", "medium"], "high")


def rank_share(p: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Share of customers ranked below each one (0 = lowest score), ties broken by customer id."""
    order = np.lexsort((np.asarray(ids).astype(str), np.asarray(p, dtype=float)))
    rank = np.empty(len(order), dtype=float)
    rank[order] = np.arange(len(order))
    return rank / max(len(order), 1)


def propensity_decile(p: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """1-10 by rank (10 = most likely to buy), 10 % each: equal probabilities are split by customer id."""
    return deciles(np.asarray(p, dtype=float), ids).astype("int64")


def risk_bands(p: np.ndarray, ids: np.ndarray, cfg: ScoringConfig) -> np.ndarray:
    """The configured banding: rank quantiles, or fixed thresholds when `churn_risk_quantiles` is null."""
    if cfg.churn_risk_quantiles is not None:
        return churn_risk_by_rank(p, ids, cfg.churn_risk_quantiles)
    return churn_risk(p, cfg.churn_risk_thresholds)


def segment_table(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    cluster_ids: np.ndarray,
    cluster_names: np.ndarray,
    churn: np.ndarray,
    purchase: np.ndarray,
    *,
    score_date: date,
    model_versions: str,
    run_id: str,
    cfg: ScoringConfig,
    value: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer, sorted by customer id, with the contract's columns and types.

    `value`: the value and timing columns by customer id (`pipeline/scoring_value.py`); absent, they are empty.
    """
    ids = features[CUSTOMER_ID].astype(str).to_numpy()
    table = pd.DataFrame(
        {
            CUSTOMER_ID: ids,
            SCORE_DATE: pd.Series([score_date] * len(features), dtype="object"),
            "recency_days": features["recency_days"].to_numpy(dtype=float),
            "frequency": features["frequency"].to_numpy(dtype=float),
            "monetary": features["monetary"].to_numpy(dtype=float),
            "r_score": segments["r_score"].to_numpy(dtype="int64"),
            "f_score": segments["f_score"].to_numpy(dtype="int64"),
            "m_score": segments["m_score"].to_numpy(dtype="int64"),
            "rfm_segment": segments["rfm_segment"].astype(str).to_numpy(),
            "lifecycle_stage": segments["lifecycle_stage"].astype(str).to_numpy(),
            "cluster_id": np.asarray(cluster_ids, dtype="int64"),
            "cluster_name": np.asarray(cluster_names, dtype=str),
            "churn_probability": np.asarray(churn, dtype=float),
            "purchase_probability": np.asarray(purchase, dtype=float),
            "churn_risk": risk_bands(np.asarray(churn, dtype=float), ids, cfg),
            "propensity_decile": propensity_decile(np.asarray(purchase, dtype=float), ids),
            "model_versions": model_versions,
            "run_id": run_id,
        }
    )
    table = table.merge(empty_value_columns(ids) if value is None else value, on=CUSTOMER_ID, how="left")
    table = table.sort_values(CUSTOMER_ID, kind="stable").reset_index(drop=True)
    return table[list(SEGMENT_TABLE_COLUMNS)].astype(SEGMENT_TABLE)


def segment_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per scheme and segment: customers, shares, mean probabilities and expected buyers in the horizon."""
    revenue = table["monetary"].clip(lower=0)
    total = revenue.sum() or 1.0
    parts = []
    for scheme in SCHEME_COLUMNS:
        g = table.assign(_rev=revenue).groupby(scheme, sort=True)
        part = g.agg(
            customers=(CUSTOMER_ID, "size"),
            revenue=("_rev", "sum"),
            mean_churn_probability=("churn_probability", "mean"),
            mean_purchase_probability=("purchase_probability", "mean"),
            expected_buyers=("purchase_probability", "sum"),
        ).reset_index(names="segment")
        part.insert(0, "scheme", scheme)
        part.insert(3, "share", part["customers"] / len(table))
        part.insert(5, "revenue_share", part.pop("revenue") / total)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, SCORE_DATE, table[SCORE_DATE].iloc[0] if len(table) else None)
    out["model_versions"] = table["model_versions"].iloc[0] if len(table) else ""
    out["run_id"] = table["run_id"].iloc[0] if len(table) else ""
    return out
