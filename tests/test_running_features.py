"""The running-sum formulation (features/running.py) gives exactly the current feature query's frame."""

from datetime import date, timedelta

import numpy as np
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


# ------------------------------------------------- the snapshot step's choice, and the future never leaks

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from segment.features.at_cutoffs import RUNNING_MIN_CUTOFFS, features_at, uses_running  # noqa: E402
from segment.features.purchase_days import purchase_days, with_purchase_days  # noqa: E402
from tests.conftest import canonical_lines, engine_with_lines  # noqa: E402


def test_features_at_many_cutoffs_use_running_sums_and_equal_the_per_cutoff_query(tiny_config):
    sample = pd.concat([pd.read_parquet(p) for p in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    con = connect()
    prepare(con, tiny_config({"sample.parquet": sample}).data)
    engine = DuckDBEngine(con)
    _, last = data_span(con)
    cuts = sorted(last - timedelta(days=28 * i) for i in range(RUNNING_MIN_CUTOFFS + 2))
    assert uses_running(engine, cuts) and not uses_running(engine, cuts[:1])
    expected = with_purchase_days(customer_features(engine, cuts, horizon_days=90), purchase_days(engine, cuts))
    _equal(expected, features_at(engine, cuts, horizon_days=90))
    one = features_at(engine, cuts[-1:], horizon_days=90)  # one cutoff: the per-cutoff query
    _equal(expected[expected["cutoff"] == cuts[-1]], one)


def test_future_lines_change_no_running_feature_on_real_data(tiny_config):
    """Lines after the last cutoff (new and existing customers) change no feature at any cutoff."""
    sample = pd.concat([pd.read_parquet(p) for p in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    cutoff = date(2011, 3, 31)
    cuts = [cutoff - timedelta(days=28 * i) for i in range(8)]
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    sample = sample[sample["InvoiceDate"] < end]
    future = sample.sample(5000, random_state=0).copy()
    future["InvoiceDate"] = end + pd.to_timedelta(np.arange(len(future)) % 200, unit="D")  # from the next instant
    future["Invoice"] = "F" + future["Invoice"].astype(str)
    future["Country"] = np.where(np.arange(len(future)) % 3 == 0, "Narnia", future["Country"])  # a new country
    newcomers = future.head(50).assign(**{"Customer ID": 99_000_000 + np.arange(50)})

    def run(frames):
        con = connect()
        prepare(con, tiny_config(frames).data)
        return features_at(DuckDBEngine(con), cuts, horizon_days=90)

    before = run({"base.parquet": sample})
    after = run({"base.parquet": sample, "future.parquet": pd.concat([future, newcomers])})
    assert len(before) > 0
    pd.testing.assert_frame_equal(before, after)


START = pd.Timestamp("2021-01-01")
line = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.integers(0, 800 * 24 * 60),  # minutes after START: more than two years, so the seasonal frames repeat
    st.sampled_from(["i1", "i2", "i3", "i4", "i5", "i6"]),  # few invoice ids: orders reuse them across days
    st.sampled_from(["P1", "P2", "P3"]),
    st.integers(-3, 6).filter(lambda q: q != 0),
    st.sampled_from([0.5, 2.0, 9.99]),
    st.sampled_from(["UK", "FR", None]),
)


def _lines(rows) -> pd.DataFrame:
    df = canonical_lines([(c, START + pd.Timedelta(minutes=m), i, p, q, pr) for c, m, i, p, q, pr, _ in rows])
    return df.assign(country=[r[-1] for r in rows])


def _running(lines: pd.DataFrame, cutoffs) -> pd.DataFrame:
    engine = engine_with_lines(lines.assign(amount=lines["quantity"] * lines["unit_price"]))
    return running_features(engine.con, cutoffs, horizon_days=90, with_purchase_days=True), engine


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(line, min_size=1, max_size=40), days=st.lists(st.integers(20, 820), min_size=1, max_size=6))
def test_running_sums_equal_the_per_cutoff_query_on_random_histories(history, days):
    cutoffs = sorted({(START + pd.Timedelta(days=d)).date() for d in days})
    got, engine = _running(_lines(history), cutoffs)
    expected = customer_features(engine, cutoffs, horizon_days=90)
    expected = with_purchase_days(expected, purchase_days(engine, cutoffs))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), rtol=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past=st.lists(line, min_size=1, max_size=25),
    future=st.lists(line, min_size=1, max_size=10),
    cutoff_day=st.integers(30, 799),
    data=st.data(),
)
def test_lines_after_the_last_cutoff_never_change_a_running_feature(past, future, cutoff_day, data):
    cutoff = (START + pd.Timedelta(days=cutoff_day)).date()
    cutoffs = sorted({cutoff - timedelta(days=d) for d in (0, 10, 45, 400)})
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    base = _lines(past)
    after = _lines(future).assign(timestamp=lambda d: end + (d["timestamp"] - START) % pd.Timedelta(days=60))
    history = pd.concat([base, after], ignore_index=True)
    expected, _ = _running(history, cutoffs)
    later = history["timestamp"] >= end
    removed = history[~later]
    changed = history.assign(
        quantity=history["quantity"].where(~later, history["quantity"] * 7),
        unit_price=history["unit_price"].where(~later, 123.0),
        country=history["country"].where(~later, "DE"),
    )
    extra = data.draw(st.lists(line, min_size=1, max_size=5))
    added = pd.concat([history, _lines(extra).assign(timestamp=end + pd.Timedelta(hours=1))], ignore_index=True)
    for variant in (removed, changed, added):
        if variant.empty:
            assert expected.empty
            continue
        got, _ = _running(variant, cutoffs)
        pd.testing.assert_frame_equal(got, expected)
