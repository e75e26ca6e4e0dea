"""PSI: near zero for the same population, large for a shifted one, defined for categories and NaN."""

import numpy as np
import pandas as pd
import pytest

from segment.pipeline.drift import psi, reference


def _frame(rng, shift=0.0, n=5000):
    return pd.DataFrame(
        {
            "monetary": np.exp(rng.normal(5 + shift, 1, n)),
            "gap_mean_days": np.where(rng.uniform(size=n) < 0.3, np.nan, rng.gamma(2, 30, n)),
            "country": rng.choice(["UK", "DE", "FR"], n, p=[0.8, 0.1, 0.1]),
        }
    )


def test_same_population_is_stable_and_a_shift_is_caught():
    rng = np.random.default_rng(0)
    train = _frame(rng)
    ref = reference(train, ["monetary", "gap_mean_days", "country"])
    same = psi(ref, _frame(rng))
    assert all(v < 0.1 for v in same.values()), same
    shifted = psi(ref, _frame(rng, shift=3.0))  # +3 standard deviations of log monetary
    assert shifted["monetary"] > 0.25
    assert shifted["gap_mean_days"] < 0.1 and shifted["country"] < 0.1


def test_categories_and_missing_values_count():
    rng = np.random.default_rng(1)
    ref = reference(_frame(rng), ["country", "gap_mean_days"])
    moved = _frame(rng).assign(country="NL", gap_mean_days=np.nan)
    got = psi(ref, moved)
    assert got["country"] > 1 and got["gap_mean_days"] > 1
    assert psi(ref, moved.drop(columns="country")).keys() == {"gap_mean_days"}


def test_psi_by_hand():
    ref = {"x": {"edges": [1.0], "shares": [0.5, 0.5, 0.0]}, "c": {"categories": {"UK": 0.8, "DE": 0.2}, "other": 0.0}}
    frame = pd.DataFrame({"x": [0.0, 0.0, 0.0, 2.0], "c": ["UK", "UK", "DE", "FR"]})
    got = psi(ref, frame)
    # x: shares 3/4 and 1/4 against 1/2 and 1/2; the empty missing-value bin adds nothing
    assert got["x"] == pytest.approx(0.25 * np.log(1.5) + 0.25 * np.log(2.0))
    # c: UK 1/2 vs 0.8, DE 1/4 vs 0.2, an unseen country 1/4 vs the floor 1e-4
    expected = -0.3 * np.log(0.5 / 0.8) + 0.05 * np.log(0.25 / 0.2) + (0.25 - 1e-4) * np.log(0.25 / 1e-4)
    assert got["c"] == pytest.approx(expected)
    same = pd.DataFrame({"x": [0.0, 2.0] * 5, "c": ["UK"] * 8 + ["DE"] * 2})  # exactly the reference shares
    assert psi(ref, same) == {"x": 0.0, "c": pytest.approx(0.0, abs=1e-12)}
