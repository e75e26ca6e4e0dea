"""Per-segment profiles: who is in each segment and what they are worth."""

from __future__ import annotations

import pandas as pd

PROFILE_MEANS = ("recency_days", "frequency", "monetary", "tenure_days", "mean_order_value", "return_rate")


def segment_profile(customers: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """Customers, share, revenue share and mean key features per segment (largest first)."""
    df = customers.assign(_segment=segment.to_numpy())
    total_revenue = df["monetary"].clip(lower=0).sum()
    means = [c for c in PROFILE_MEANS if c in df]
    prof = df.groupby("_segment").agg(
        customers=("customer_id", "size"),
        revenue=("monetary", lambda s: s.clip(lower=0).sum()),
        **{f"mean_{c}": (c, "mean") for c in means},
    )
    prof.insert(1, "share", prof["customers"] / len(df))
    prof.insert(3, "revenue_share", prof["revenue"] / total_revenue if total_revenue else 0.0)
    return prof.drop(columns="revenue").sort_values("customers", ascending=False).rename_axis("segment").reset_index()
