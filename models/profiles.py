"""Per-segment profiles: who is in each segment and what they are worth."""

from __future__ import annotations

import pandas as pd

from segment.schema import CUSTOMER_ID

PROFILE_MEANS = ("recency_days", "frequency", "monetary", "tenure_days", "mean_order_value", "return_rate")


def segment_profile(customers: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """Customers, share, revenue share and mean key features per segment (largest first)."""
    df = customers.assign(_segment=segment.to_numpy())
    total_revenue = df["monetary"].clip(lower=0).sum()
    means = [c for c in PROFILE_MEANS if c in df]
    prof = df.groupby("_segment").agg(
        customers=(CUSTOMER_ID, "size"),
        revenue=("monetary", lambda s: s.clip(lower=0).sum()),
        **{f"mean_{c}": (c, "mean") for c in means},
    )
    prof.insert(1, "share", prof["customers"] / len(df))
    prof.insert(3, "revenue_share", prof["revenue"] / total_revenue if total_revenue else 0.0)
    return prof.drop(columns="revenue").sort_values("customers", ascending=False).rename_axis("segment").reset_index()


def outcome_rates(labelled: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """Observed purchase and churn rates per segment at a labelled (validation) cutoff.

    This is what each segment actually did next, the number marketing asks of a segment first.
    """
    df = labelled.assign(_segment=segment.to_numpy())
    rates = df.groupby("_segment").agg(
        customers_at_validation=(CUSTOMER_ID, "size"),
        purchase_rate_at_validation=("purchase_label", "mean"),
        churn_rate_at_validation=("churn_label", "mean"),  # NaN labels (not in the churn population) skipped
    )
    return rates.rename_axis("segment").reset_index()


def profile_with_outcomes(profile: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """The profile table with each segment's observed outcome rates (NaN for a segment new since then)."""
    return profile.merge(rates, on="segment", how="left")
