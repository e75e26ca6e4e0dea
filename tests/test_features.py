from datetime import date

import numpy as np
import pandas as pd
import pytest

from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.features.gaps import gap_quantiles
from segment.features.labels import attach_labels, future_buyers
from segment.pipeline.prepare import connect, prepare
from tests.conftest import SAMPLE, lines_frame


def _features(cfg, cutoffs, horizon=90):
    con = connect()
    prepare(con, cfg.data)
    return customer_features(DuckDBEngine(con), cutoffs, horizon_days=horizon), con


def test_future_lines_change_no_feature_on_real_data(tiny_config):
    """Adding order lines after the cutoff (new and existing customers) changes no feature at it."""
    sample = pd.concat([pd.read_parquet(p) for p in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    cutoff = date(2011, 3, 31)
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    future = sample[sample["InvoiceDate"] < end].sample(5000, random_state=0).copy()
    # the same customers buy again after the cutoff, one of them exactly at the next day's first instant
    future["InvoiceDate"] = end + pd.to_timedelta(np.arange(len(future)) % 200, unit="D")
    future["Invoice"] = "F" + future["Invoice"].astype(str)
    newcomers = future.head(50).assign(**{"Customer ID": 99_000_000 + np.arange(50)})
    base = tiny_config({"base.parquet": sample})
    before, _ = _features(base, [cutoff])
    with_future = tiny_config({"base.parquet": sample, "future.parquet": pd.concat([future, newcomers])})
    after, _ = _features(with_future, [cutoff])
    pd.testing.assert_frame_equal(before, after)


def test_known_values_for_a_hand_written_history(tiny_config):
    rows = [
        ("A", "2021-01-01 10:00", "1", "P1", 2, 5.0),  # 10.0
        ("A", "2021-01-01 10:00", "1", "P2", 1, 10.0),  # +10.0 -> order 1 = 20
        ("A", "2021-01-11 09:00", "2", "P1", 4, 5.0),  # order 2 = 20
        ("A", "2021-01-12 08:00", "C2", "P1", -2, 5.0),  # return of 10
        ("A", "2021-01-31 23:59:59", "3", "P3", 1, 40.0),  # order 3 = 40, at the last instant of the cutoff day
        ("A", "2021-02-01 00:00", "4", "P3", 1, 40.0),  # after the cutoff: unseen
        ("B", "2020-11-02 12:00", "5", "P1", 1, 8.0),
    ]
    cfg = tiny_config({"lines.parquet": lines_frame(rows)})
    feats, con = _features(cfg, [date(2021, 1, 31)])
    a = feats.set_index("customer_id").loc["A"]
    assert a["recency_days"] == 0
    assert a["frequency"] == 3
    assert a["monetary"] == pytest.approx(20 + 20 - 10 + 40)
    assert a["tenure_days"] == 30
    assert a["mean_order_value"] == pytest.approx(80 / 3)
    assert a["return_rate"] == pytest.approx(10 / 80)
    assert a["orders_30d"] == 2  # Jan 11 (age 20) and Jan 31 (age 0); Jan 1 is age 30
    assert a["orders_90d"] == 3
    assert a["distinct_products"] == 3
    gaps = np.array([9 + 23 / 24, 20 + (23 + 59 / 60 + 59 / 3600 - 9) / 24])
    assert a["gap_mean_days"] == pytest.approx(gaps.mean())
    assert a["gap_std_days"] == pytest.approx(gaps.std(ddof=1))
    b = feats.set_index("customer_id").loc["B"]
    assert (b["recency_days"], b["frequency"], b["tenure_days"]) == (90, 1, 90)
    assert np.isnan(b["gap_mean_days"])

    labels = attach_labels(
        feats, future_buyers(DuckDBEngine(con), [date(2021, 1, 31)], 90), lookback_days=365
    ).set_index("customer_id")
    assert labels.loc["A", "purchase_label"] == 1  # the Feb 1 order is in (t, t + 90]
    assert labels.loc["A", "churn_label"] == 0
    assert labels.loc["B", "purchase_label"] == 0
    assert labels.loc["B", "churn_label"] == 1


def test_customer_ids_keep_their_text(tiny_config):
    df = lines_frame([("007", "2021-01-01", "1", "P1", 1, 1.0), ("17850", "2021-01-02", "2", "P1", 1, 1.0)])
    feats, _ = _features(tiny_config({"l.parquet": df}), [date(2021, 1, 31)])
    assert sorted(feats["customer_id"]) == ["007", "17850"]


# ------------------------------------------------------------- property: the future never leaks

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from segment.features.rfm import quintile_score  # noqa: E402
from tests.conftest import canonical_lines, engine_with_lines  # noqa: E402

START = pd.Timestamp("2021-01-01")
line = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.integers(0, 400 * 24 * 60),  # minutes after START
    st.sampled_from(["i1", "i2", "i3", "i4", "i5", "i6"]),  # few invoice ids: orders reuse them across days
    st.sampled_from(["P1", "P2", "P3"]),
    st.integers(-3, 6).filter(lambda q: q != 0),
    st.sampled_from([0.5, 2.0, 9.99]),
)


def _lines(rows) -> pd.DataFrame:
    return canonical_lines([(c, START + pd.Timedelta(minutes=m), i, p, q, pr) for c, m, i, p, q, pr in rows])


def _features_of(lines: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Orders and features built in memory from the lines: the property is about the queries, not the files."""
    lines = lines.assign(amount=lines["quantity"] * lines["unit_price"])
    return customer_features(engine_with_lines(lines), [cutoff], horizon_days=90)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past=st.lists(line, min_size=1, max_size=25),
    future=st.lists(line, min_size=1, max_size=10),
    cutoff_day=st.integers(30, 399),
    data=st.data(),
)
def test_lines_after_the_cutoff_never_change_a_feature(past, future, cutoff_day, data):
    cutoff = (START + pd.Timedelta(days=cutoff_day)).date()
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    base = _lines(past)
    after = _lines(future).assign(timestamp=lambda d: end + (d["timestamp"] - START) % pd.Timedelta(days=60))
    history = pd.concat([base, after], ignore_index=True)
    expected = _features_of(history, cutoff)
    later = history["timestamp"] >= end
    # remove every later line; change later lines' values; add more later lines
    removed = history[~later]
    changed = history.assign(
        quantity=history["quantity"].where(~later, history["quantity"] * 7),
        unit_price=history["unit_price"].where(~later, 123.0),
    )
    extra = data.draw(st.lists(line, min_size=1, max_size=5))
    added = pd.concat([history, _lines(extra).assign(timestamp=end + pd.Timedelta(hours=1))], ignore_index=True)
    for variant in (removed, changed, added):
        if variant.empty:  # every line was after the cutoff: nobody to describe
            assert expected.empty
            continue
        got = _features_of(variant, cutoff)
        pd.testing.assert_frame_equal(got, expected)


def test_known_values_at_two_cutoffs(tiny_config):
    rows = [
        ("A", "2021-01-01 10:00", "1", "P1", 2, 5.0),  # order 1 = 10
        ("A", "2021-01-21 10:00", "2", "P2", 3, 10.0),  # order 2 = 30
        ("A", "2021-01-25 09:00", "C9", "P2", -1, 10.0),  # return 10
        ("A", "2021-03-01 00:00", "3", "P1", 4, 5.0),  # order 3 = 20, at the first instant of the 2nd cutoff day
        ("A", "2021-03-02 00:00", "4", "P1", 1, 5.0),  # after both cutoffs
    ]
    cfg = tiny_config({"l.parquet": lines_frame(rows)})
    feats, _ = _features(cfg, [date(2021, 1, 31), date(2021, 3, 1)])
    first = feats[feats["cutoff"] == date(2021, 1, 31)].iloc[0]
    second = feats[feats["cutoff"] == date(2021, 3, 1)].iloc[0]
    assert (first["recency_days"], first["frequency"], first["tenure_days"]) == (10, 2, 30)
    assert first["monetary"] == pytest.approx(10 + 30 - 10)
    assert first["return_rate"] == pytest.approx(10 / 40)
    assert first["gap_mean_days"] == pytest.approx(20.0) and np.isnan(first["gap_std_days"])
    assert (first["orders_30d"], first["orders_90d"], first["revenue_30d"]) == (1, 2, pytest.approx(20.0))
    assert (second["recency_days"], second["frequency"], second["tenure_days"]) == (0, 3, 59)
    assert second["monetary"] == pytest.approx(50)
    assert second["gap_mean_days"] == pytest.approx((20 + (39 - 10 / 24)) / 2)
    assert second["orders_30d"] == 1 and second["revenue_30d"] == pytest.approx(20.0)  # Jan 21 is 39 days back
    assert second["trend_orders_90d"] == 3  # 3 orders in the last 90 days, none in the 90 before
    assert second["return_rate"] == pytest.approx(10 / 60)
    assert second["items_per_order"] == pytest.approx((2 + 3 + 4) / 3)


# ------------------------------------------------------------- RFM scores


def test_quintiles_are_one_to_five_and_recency_is_reversed():
    values = pd.Series(np.arange(100, dtype=float))
    s = quintile_score(values)
    assert s.min() == 1 and s.max() == 5 and s.value_counts().eq(20).all()
    feats = pd.DataFrame({"cutoff": 1, "recency_days": values, "frequency": values, "monetary": values})
    from segment.features.rfm import rfm_scores

    scores = rfm_scores(feats)
    assert scores.loc[0, "r_score"] == 5 and scores.loc[99, "r_score"] == 1  # most recent scores high
    assert scores.loc[99, "f_score"] == 5 and scores.loc[0, "m_score"] == 1


def test_quintiles_are_deterministic_under_ties_and_sensible_with_few_values():
    values = pd.Series([3.0, 1.0, 3.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    s = quintile_score(values)
    shuffled = values.sample(frac=1.0, random_state=4)
    assert quintile_score(shuffled).sort_index().equals(s)  # row order never changes a score
    assert s.groupby(values).nunique().eq(1).all()  # equal values, equal scores
    assert s[values == 1.0].iloc[0] == 1 and s[values == 3.0].iloc[0] > s[values == 2.0].iloc[0]
    assert quintile_score(pd.Series([7.0] * 6)).eq(1).all()  # one distinct value: everyone scores 1
    two = quintile_score(pd.Series([1.0, 1.0, 1.0, 9.0]))
    assert list(two) == [1, 1, 1, 4]  # two values, two scores, ordered


def test_country_ties_go_to_the_alphabetically_first(tiny_config):
    """A tie between countries, within an order or across a customer's orders, has one answer on every run.

    Plain `mode()` returns whichever tied value its hash table met first; the file lists the later
    country of the alphabet first, so that would give Switzerland here.
    """
    rows = [
        ("A", "2021-01-01 10:00", "1", "P1", 1, 5.0),
        ("A", "2021-01-01 10:00", "1", "P2", 1, 5.0),
        ("B", "2021-01-02 10:00", "2", "P1", 1, 5.0),
        ("B", "2021-01-03 10:00", "3", "P1", 1, 5.0),
    ]
    countries = ["Switzerland", "Australia", "Switzerland", "Australia"]
    cfg = tiny_config({"lines.parquet": lines_frame(rows).assign(Country=countries)})
    con = connect()
    prepare(con, cfg.data)
    assert con.execute("SELECT country FROM orders WHERE customer_id = 'A'").fetchall() == [("Australia",)]
    feats = customer_features(DuckDBEngine(con), [date(2021, 1, 5)], horizon_days=90).set_index("customer_id")
    assert feats.loc["B", "country"] == "Australia"


def test_order_country_is_the_most_frequent_of_its_lines(tiny_config):
    """One country per order (the fast path), a mixed order (mode of its lines) and an order id reused next day."""
    rows = [
        ("A", "2021-01-01 10:00", "1", "P1", 1, 5.0),
        ("A", "2021-01-01 10:00", "1", "P2", 1, 5.0),
        ("A", "2021-01-01 11:00", "1", "P3", 1, 5.0),
        ("A", "2021-01-02 10:00", "1", "P1", 1, 5.0),  # same id next day: another order, its own country
        ("B", "2021-01-03 10:00", "2", "P1", 1, 5.0),
    ]
    countries = ["Germany", "France", "Germany", "France", "EIRE"]
    cfg = tiny_config({"lines.parquet": lines_frame(rows).assign(Country=countries)})
    con = connect()
    prepare(con, cfg.data)
    got = con.execute("SELECT customer_id, CAST(ts AS DATE)::VARCHAR, country FROM orders ORDER BY ALL").fetchall()
    assert got == [("A", "2021-01-01", "Germany"), ("A", "2021-01-02", "France"), ("B", "2021-01-03", "EIRE")]
    assert con.table("orders").columns[-1] == "country"


def test_gap_quantiles_by_order_count():
    rows = [
        ("A", "2021-01-01", "1", "P1", 1, 1.0),
        ("A", "2021-01-11", "2", "P1", 1, 1.0),  # gap 10 after the 1st purchase: bucket one
        ("A", "2021-01-31", "3", "P1", 1, 1.0),  # gap 20 after the 2nd: bucket repeat
        ("B", "2021-01-01", "4", "P1", 1, 1.0),
        ("B", "2021-01-05", "5", "P1", 1, 1.0),  # gap 4 after the 1st: bucket one
        ("B", "2021-02-05", "6", "P1", 1, 1.0),  # closes after the cutoff: unseen
    ]
    engine = engine_with_lines(canonical_lines(rows))
    got = gap_quantiles(engine, date(2021, 2, 1), loyal_orders=5, quantiles=(0.5, 0.75)).set_index("bucket")
    assert got.loc["one", "gaps"] == 2 and got.loc["repeat", "gaps"] == 1 and "loyal" not in got.index
    assert got.loc["one", "active_days"] == pytest.approx(7.0)  # median of 4 and 10
    assert got.loc["one", "at_risk_days"] == pytest.approx(8.5)  # 4 + 0.75 * (10 - 4)
    assert got.loc["repeat", "active_days"] == got.loc["repeat", "at_risk_days"] == 20
