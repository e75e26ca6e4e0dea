"""The training-row cap keeps whole customers, is seeded and deterministic, and stays under the cap."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segment.models.sampling import sample_customers


def _snapshots(customers=500, cutoffs=8, seed=0):
    """Customers appear from a random cutoff on (as in real snapshots: a customer exists once they bought)."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, cutoffs, customers)
    rows = [
        (date(2024, 1, 1 + k), f"c{i:05d}", rng.normal())
        for k in range(cutoffs)
        for i in range(customers)
        if start[i] <= k
    ]
    return pd.DataFrame(rows, columns=["cutoff", "customer_id", "recency_days"])


def test_no_cap_or_small_frame_is_returned_whole():
    snaps = _snapshots()
    assert sample_customers(snaps, None) is snaps
    assert sample_customers(snaps, len(snaps)) is snaps


def test_keeps_whole_customers_under_the_cap():
    snaps = _snapshots()
    cap = len(snaps) // 3
    out = sample_customers(snaps, cap, seed=1)
    assert len(out) <= cap and len(out) > cap - snaps.groupby("customer_id").size().max()
    per_customer = snaps.groupby("customer_id").size()
    kept = out.groupby("customer_id").size()
    pd.testing.assert_series_equal(kept, per_customer[kept.index])  # every cutoff of a kept customer
    assert out.index.is_monotonic_increasing  # original row order


def test_same_seed_same_customers_regardless_of_row_order_and_other_seed_differs():
    snaps = _snapshots()
    cap = len(snaps) // 4
    a = set(sample_customers(snaps, cap, seed=7)["customer_id"])
    shuffled = snaps.sample(frac=1.0, random_state=3)
    assert set(sample_customers(shuffled, cap, seed=7)["customer_id"]) == a
    assert set(sample_customers(snaps, cap, seed=8)["customer_id"]) != a


def test_sample_is_not_biased_toward_long_histories_or_ids():
    """The kept customers' cutoff counts look like everyone's (a prefix of ids or of rows would not)."""
    snaps = _snapshots(customers=4000)
    out = sample_customers(snaps, len(snaps) // 2, seed=0)
    every = snaps.groupby("customer_id").size().mean()
    kept = out.groupby("customer_id").size().mean()
    assert abs(kept - every) < 0.1 * every
    ids = out["customer_id"].unique()
    assert ids.min() < "c00400" and ids.max() > "c03600"  # spread over the whole id range


def test_cap_below_one_customer_is_an_error_or_empty():
    snaps = _snapshots()
    with pytest.raises(ValueError, match="at least 1"):
        sample_customers(snaps, 0)
    assert len(sample_customers(snaps, 1)) <= 1
