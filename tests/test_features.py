from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.customer import customer_features
from features.labels import attach_labels, future_buyers
from pipeline.prepare import connect, prepare
from tests.conftest import SAMPLE, lines_frame


def _features(cfg, cutoffs, horizon=90):
    con = connect()
    prepare(con, cfg.data)
    return customer_features(con, cutoffs, horizon_days=horizon), con


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

    labels = attach_labels(feats, future_buyers(con, [date(2021, 1, 31)], 90), lookback_days=365).set_index(
        "customer_id"
    )
    assert labels.loc["A", "purchase_label"] == 1  # the Feb 1 order is in (t, t + 90]
    assert labels.loc["A", "churn_label"] == 0
    assert labels.loc["B", "purchase_label"] == 0
    assert labels.loc["B", "churn_label"] == 1


def test_customer_ids_keep_their_text(tiny_config):
    df = lines_frame([("007", "2021-01-01", "1", "P1", 1, 1.0), ("17850", "2021-01-02", "2", "P1", 1, 1.0)])
    feats, _ = _features(tiny_config({"l.parquet": df}), [date(2021, 1, 31)])
    assert sorted(feats["customer_id"]) == ["007", "17850"]


