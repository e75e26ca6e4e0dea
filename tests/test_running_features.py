"""The running-sum formulation (features/running.py) gives exactly the current feature query's frame."""

from datetime import date, timedelta

import pandas as pd
import pytest

from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.features.running import _season_frames, running_features
from segment.pipeline.prepare import connect, data_span, prepare
from tests.conftest import SAMPLE, lines_frame


def _both(cfg, cutoffs, horizon=90):
    con = connect()
    prepare(con, cfg.data)
    cuts = cutoffs(con) if callable(cutoffs) else cutoffs
    return customer_features(DuckDBEngine(con), cuts, horizon_days=horizon), running_features(
        con, cuts, horizon_days=horizon
    )


def _equal(a, b):
    assert len(a) > 0
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), rtol=1e-9)


@pytest.mark.parametrize("horizon", [90, 30])
def test_equal_on_the_bundled_sample_at_32_cutoffs(tiny_config, horizon):
    sample = pd.concat([pd.read_parquet(p) for p in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    cfg = tiny_config({"sample.parquet": sample})

    def cutoffs(con):
        _, last = data_span(con)
        return sorted(last - timedelta(days=21 * i) for i in range(32))

    _equal(*_both(cfg, cutoffs, horizon))


def test_equal_on_a_hand_made_history_with_countries_repeats_and_old_purchases(tiny_config):
    rows = [
        ("A", "2020-01-05 10:00", "1", "P1", 2, 5.0),
        ("A", "2020-01-05 12:00", "2", "P2", 1, 3.0),  # a second order the same day
        ("A", "2021-01-03 09:00", "3", "P1", 1, 5.0),  # P1 again, a year later: not a new product
        ("A", "2021-02-01 09:00", "C4", "P1", -1, 5.0),  # a return
        ("B", "2021-01-20 10:00", "5", "P3", 1, 7.0),
        ("B", "2021-01-25 10:00", "6", "P3", 1, 7.0),
        ("B", "2021-02-10 10:00", "7", "P4", 1, 7.0),
        ("C", "2021-02-01 10:00", "C8", "P1", -1, 5.0),  # a return only: no features until a purchase
        ("C", "2021-02-15 10:00", "9", "P1", 1, 5.0),
    ]
    countries = ["Germany", "Germany", "France", "France", "EIRE", "Spain", "Spain", "EIRE", "EIRE"]
    cfg = tiny_config({"lines.parquet": lines_frame(rows).assign(Country=countries)})
    cutoffs = [date(2020, 1, 5), date(2021, 1, 3), date(2021, 1, 25), date(2021, 2, 1), date(2021, 2, 28)]
    a, b = _both(cfg, cutoffs)
    _equal(a, b)
    assert set(b.loc[b["cutoff"] == date(2021, 2, 1), "customer_id"]) == {"A", "B"}  # C has no purchase yet
    assert b.set_index(["cutoff", "customer_id"]).loc[(date(2021, 2, 28), "B"), "country"] == "Spain"


def test_season_frames_cover_exactly_the_seasonal_ages():
    ages = range(0, 1200)
    frames = _season_frames(90, 1199)
    assert {a for a in ages if any(lo <= a <= hi for lo, hi in frames)} == {a for a in ages if a % 365 >= 275}
    assert _season_frames(400, 100) == [(0, 100)]
