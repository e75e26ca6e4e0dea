"""BG/NBD closed forms against the published CDNOW figures, and against customers simulated from the model.

Published figures (Fader, Hardie & Lee 2005, "Counting your customers the easy way", CDNOW sample, time
in weeks): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426; a customer with x = 2, t_x = 30.43, T = 38.86
is expected to make 1.226 purchases in the next 39 weeks; E[X(t)] from Hardie's BG/NBD spreadsheet (as in
the lifetimes test suite): 0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576 at t = 1/7, 1, 3, 31.857, 32, 78.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segment.features.engine import DuckDBEngine
from segment.models import bgnbd

CDNOW = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_conditional_expectation_matches_the_paper():
    assert bgnbd.conditional_expected_purchases(CDNOW, 2, 30.43, 38.86, 39) == pytest.approx(1.226, abs=5e-4)


def test_unconditional_expectation_matches_the_spreadsheet():
    t = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    # the spreadsheet used the unrounded estimates; the 3-decimal published ones are off by up to 0.16 %
    np.testing.assert_allclose(bgnbd.expected_purchases(CDNOW, t), expected, rtol=2e-3, atol=2e-4)


def test_one_time_buyers_cannot_be_dead():
    """x = 0: P(alive) is 1 and P(no purchase in t) is the NBD term alone (the indicator pymc 0.19 drops)."""
    assert bgnbd.p_alive(CDNOW, 0, 0, 38.86) == 1.0
    p0 = bgnbd.probability_no_purchase(CDNOW, 0, 0, 38.86, 39)
    assert p0 == pytest.approx(((CDNOW.alpha + 38.86) / (CDNOW.alpha + 38.86 + 39)) ** CDNOW.r)
    # a repeat buyer silent for long is probably dead: P(no purchase) tends to 1 - P(alive) as t grows
    far = bgnbd.probability_no_purchase(CDNOW, 2, 5.0, 38.86, 1e9)
    assert far == pytest.approx(1 - bgnbd.p_alive(CDNOW, 2, 5.0, 38.86), abs=1e-3)


def _simulate(p: bgnbd.BgNbdParams, n: int, T: float, horizon: float, seed: int = 0) -> pd.DataFrame:
    """Customers drawn from the BG/NBD story: (x, t_x, T) observed in (0, T], and whether they bought in the horizon."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(p.r, 1 / p.alpha, n)
    drop = rng.beta(p.a, p.b, n)
    now, x, t_x = np.zeros(n), np.zeros(n), np.zeros(n)
    alive, bought_later = np.ones(n, bool), np.zeros(n, bool)
    while alive.any():
        now[alive] += rng.exponential(1 / lam[alive])
        in_calibration = alive & (now <= T)
        x[in_calibration] += 1
        t_x[in_calibration] = now[in_calibration]
        bought_later |= alive & (now > T) & (now <= T + horizon)
        alive &= now <= T + horizon
        alive &= rng.random(n) >= drop  # drop-out right after a purchase
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T, "later": bought_later})


def test_probability_matches_simulated_customers_for_one_time_and_repeat_buyers():
    sim = _simulate(CDNOW, 200_000, T=39.0, horizon=39.0)
    p_buy = 1 - bgnbd.probability_no_purchase(CDNOW, sim["x"], sim["t_x"], sim["T"], 39.0)
    for group in (sim["x"] == 0, sim["x"] > 0):
        assert p_buy[group].mean() == pytest.approx(sim.loc[group, "later"].mean(), abs=0.005)


def test_fit_recovers_the_parameters_of_simulated_customers():
    sim = _simulate(CDNOW, 100_000, T=39.0, horizon=0.0, seed=1)
    got = bgnbd.fit(sim["x"], sim["t_x"], sim["T"], time_unit=1.0, max_rows=None)  # every customer: the MLE
    assert got.r == pytest.approx(CDNOW.r, rel=0.1)
    assert got.alpha == pytest.approx(CDNOW.alpha, rel=0.15)
    assert got.a == pytest.approx(CDNOW.a, rel=0.2)
    assert got.b == pytest.approx(CDNOW.b, rel=0.25)
    # the likelihood at the fitted parameters is at least as high as at the truth
    ll = bgnbd.log_likelihood
    assert ll(got, sim["x"], sim["t_x"], sim["T"]).sum() >= ll(CDNOW, sim["x"], sim["t_x"], sim["T"]).sum() - 1e-6


def test_a_large_fit_reads_a_seeded_sample_whatever_the_row_order():
    sim = _simulate(CDNOW, 100_000, T=39.0, horizon=0.0, seed=1)
    x, t_x, T = (sim[c].to_numpy() for c in ("x", "t_x", "T"))
    full = bgnbd.fit(x, t_x, T, time_unit=1.0, max_rows=None)
    capped = bgnbd.fit(x, t_x, T, time_unit=1.0)  # default: 50,000 of the 100,000 customers
    assert capped != full  # it did sample
    for name, rel in (("r", 0.1), ("alpha", 0.15), ("a", 0.2), ("b", 0.25)):  # as close to the truth as the full fit
        assert getattr(capped, name) == pytest.approx(getattr(CDNOW, name), rel=rel)
    shuffled = np.random.default_rng(5).permutation(len(x))
    assert bgnbd.fit(x[shuffled], t_x[shuffled], T[shuffled], time_unit=1.0) == capped  # the set decides, not the order
    small = slice(0, 20_000)
    assert bgnbd.fit(x[small], t_x[small], T[small], time_unit=1.0) == bgnbd.fit(
        x[small], t_x[small], T[small], time_unit=1.0, max_rows=None
    )  # below the cap nothing changes


def test_purchase_days_not_orders():
    frame = pd.DataFrame(
        {
            "purchase_days": [1.0, 3.0],
            "frequency": [4.0, 5.0],
            "tenure_days": [50.0, 80.0],
            "recency_days": [50.0, 10.0],
        }
    )
    x, t_x, T = bgnbd.summary_from_features(frame)
    np.testing.assert_array_equal(x, [0, 2])
    np.testing.assert_array_equal(t_x, [0, 70])
    with pytest.raises(ValueError, match="purchase_days"):
        bgnbd.summary_from_features(frame.drop(columns="purchase_days"))


def test_purchase_days_count_days_not_orders_and_see_only_the_past():
    from datetime import date, datetime

    import duckdb

    from segment.features.purchase_days import purchase_days

    con = duckdb.connect()
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "ts": [
                datetime(2011, 1, 1, 9),
                datetime(2011, 1, 1, 15),  # a second order the same day: not a repeat purchase day
                datetime(2011, 1, 5, 10),
                datetime(2011, 2, 1, 10),  # after the cutoff: unseen
                datetime(2011, 1, 3, 10),
            ],
            "gross": [10.0, 5.0, 8.0, 7.0, -3.0],  # b only returned: not in the population
        }
    )
    con.register("orders_df", orders)
    con.execute("CREATE TABLE orders AS SELECT * FROM orders_df")
    got = purchase_days(DuckDBEngine(con), [date(2011, 1, 10)])
    assert got.to_dict("records") == [{"cutoff": date(2011, 1, 10), "customer_id": "a", "purchase_days": 2.0}]
