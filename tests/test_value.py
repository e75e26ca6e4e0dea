"""Value and timing (issue 18): labels on a hand-written history, metrics on 10 rows, monotone timing,
and both models on the real sample against trivial baselines."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segment.config import LightGBMConfig, TimeConfig, ValueConfig
from segment.features.snapshots import plan_snapshots
from segment.features.value_labels import future_revenue, next_order_days, past_revenue
from segment.models.btyd import value_snapshots
from segment.models.timing import (
    TimingModel,
    days_at,
    event_interval,
    fit_timing,
    next_order_days_from_curve,
    person_period,
)
from segment.models.value import fit_value, value_tiers
from segment.models.value_baselines import klaviyo_days, purchase_day_summary
from segment.models.value_metrics import (
    date_errors,
    decile_table,
    lorenz_curve,
    metric_names,
    normalised_gini,
    timing_metrics,
    top_decile_capture,
    value_metrics,
)
from segment.pipeline.prepare import connect, data_span, prepare
from tests.conftest import NON_PRODUCT, RETAIL_COLUMNS, SAMPLE, lines_frame

CUTOFF = date(2021, 1, 31)
HISTORY = [
    ("A", "2021-01-10 10:00", "1", "P1", 2, 5.0),  # 10, before the cutoff
    ("A", "2021-01-31 23:59:59", "2", "P1", 4, 5.0),  # 20, the last instant of the cutoff day: not in the label
    ("A", "2021-02-01 00:00", "3", "P3", 1, 40.0),  # 40, the first instant after: day 1
    ("A", "2021-02-20 09:00", "C4", "P3", -1, 40.0),  # return of 40 in the window
    ("A", "2021-03-15 09:00", "5", "P1", 3, 5.0),  # 15
    ("A", "2021-05-05 09:00", "6", "P1", 100, 5.0),  # 500, after a 90-day window (day 94)
    ("B", "2021-01-20 12:00", "7", "P2", 1, 30.0),  # 30
    ("B", "2021-02-10 12:00", "C8", "P2", -3, 30.0),  # returns 90 in the window: net -90, no purchase
    ("C", "2020-12-01 12:00", "9", "P2", 1, 8.0),  # C never buys again
]


@pytest.fixture
def history(tiny_config):
    cfg = tiny_config({"lines.parquet": lines_frame(HISTORY)})
    con = connect()
    prepare(con, cfg.data)
    return con


def _by_customer(df: pd.DataFrame, column: str) -> dict:
    return df.set_index("customer_id")[column].to_dict()


def test_value_label_is_net_of_returns_and_strictly_after_the_cutoff(history):
    rev = _by_customer(future_revenue(history, [CUTOFF], 90), "value_net")
    assert rev == {"A": pytest.approx(40 - 40 + 15), "B": pytest.approx(-90)}  # C: nothing in the window
    assert _by_customer(future_revenue(history, [CUTOFF], 120), "value_net")["A"] == pytest.approx(515)
    past = _by_customer(past_revenue(history, [CUTOFF], 90), "past_value")
    assert past == {"A": pytest.approx(30), "B": pytest.approx(30), "C": pytest.approx(8)}
    assert _by_customer(past_revenue(history, [CUTOFF], 12), "past_value") == {"A": 20, "B": 30}  # B: day 11 back
    assert _by_customer(past_revenue(history, [CUTOFF], 11), "past_value") == {"A": 20}


def test_next_order_days_counts_purchases_only_and_censors_at_the_grid_end(history):
    days = _by_customer(next_order_days(history, [CUTOFF], 90), "next_order_days")
    assert days == {"A": 1.0}  # B's only later order is a return; C has none
    assert _by_customer(next_order_days(history, [date(2021, 2, 1)], 90), "next_order_days") == {"A": 42.0}
    assert next_order_days(history, [date(2021, 3, 15)], 50).empty  # day 51 is past a 50-day grid


def test_value_snapshots_attach_labels_to_every_customer_at_the_cutoff(history):
    snaps = value_snapshots(history, [CUTOFF], horizon_days=90, grid_end=90, feature_horizon=90).set_index(
        "customer_id"
    )
    assert list(snaps.index) == ["A", "B", "C"]
    assert snaps["value_label"].to_dict() == {"A": 15.0, "B": 0.0, "C": 0.0}  # B's negative window is 0
    assert snaps.loc["B", "value_net"] == pytest.approx(-90)
    assert snaps["next_order_observed"].to_dict() == {"A": True, "B": False, "C": False}


def test_purchase_day_summary_counts_repeat_purchase_days(history):
    s = purchase_day_summary(history, date(2021, 3, 20)).set_index("customer_id")
    a = s.loc["A"]  # purchase days Jan 10, Jan 31, Feb 1, Mar 15; the return day is not one
    assert (a["frequency"], a["recency"], a["T"]) == (3, 64, 69)
    assert a["monetary_value"] == pytest.approx((20 + 40 + 15) / 3)
    assert tuple(s.loc["C", ["frequency", "recency", "T", "monetary_value"]]) == (0, 0, 109, 0)


# ---------------------------------------------------------------- metrics on 10 rows

Y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 20.0, 30.0, 40.0, 100.0])


def test_value_metrics_on_ten_rows():
    perfect = value_metrics(Y, Y)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["gini"] == pytest.approx(1.0)
    assert perfect["top_decile_capture"] == pytest.approx(0.5) and perfect["bias"] == pytest.approx(1.0)
    assert perfect["mae"] == 0 and perfect["rmse"] == 0
    reverse = value_metrics(Y, -Y)
    assert reverse["spearman"] < -0.8 and reverse["gini"] < -0.9
    half = value_metrics(Y, Y / 2)  # same ranking, half the level
    assert half["spearman"] == pytest.approx(1.0) and half["bias"] == pytest.approx(0.5)
    assert half["mae"] == pytest.approx(10.0) and half["rmse"] == pytest.approx(np.sqrt((Y**2 / 4).mean()))


def test_decile_table_and_lorenz_curve_on_ten_rows():
    table = decile_table(Y, Y / 2)
    assert list(table["decile"]) == list(range(1, 11)) and (table["customers"] == 1).all()
    assert list(table["actual"]) == sorted(Y, reverse=True) and table["predicted"].iloc[0] == 50
    curve = lorenz_curve(Y, Y, points=10)
    assert curve["revenue_share"].iloc[1] == pytest.approx(0.5) and curve["revenue_share"].iloc[-1] == 1
    np.testing.assert_allclose(curve["revenue_share"], curve["perfect"])
    worst = lorenz_curve(Y, -Y, points=10)
    assert worst["revenue_share"].iloc[5] == 0 and worst["perfect"].iloc[5] == 1


def test_ties_in_a_prediction_are_scored_by_their_average_not_row_order():
    flat = np.full(10, 5.0)  # one big tie: no ranking at all
    assert normalised_gini(Y, flat) == pytest.approx(0.0, abs=1e-12)
    assert normalised_gini(Y[::-1], flat) == pytest.approx(0.0, abs=1e-12)
    assert top_decile_capture(Y, flat) == pytest.approx(0.1)  # a tenth of the average
    assert top_decile_capture(Y[::-1], flat) == pytest.approx(0.1)


def test_timing_metrics_on_ten_rows():
    actual = np.array([5, 10, 20, 30, 60, np.nan, np.nan, np.nan, np.nan, np.nan])
    predicted = np.array([7, 10, np.nan, 40, 200, 30, np.nan, np.nan, 10, 50])
    err = date_errors(actual, predicted, 90)
    np.testing.assert_allclose(err, [2, 0, 70, 10, 30])  # no date and a date past the grid count as day 90
    p30 = np.array([0.9, 0.9, 0.6, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    m = timing_metrics(actual, predicted, 90, {30: p30}, constant_days=40.0)  # errors 35, 30, 20, 10, 20
    assert m["mae_days"] == 10 and m["skill"] == pytest.approx(0.5)
    assert m["mae_days_dated"] == 2 and m["skill_dated"] == pytest.approx(1 - 2 / 30)  # rows 0, 1, 3: 35, 30, 0
    assert m["dated_share"] == pytest.approx(0.6) and m["reordered_share"] == pytest.approx(0.5)
    assert m["rate_30"] == pytest.approx(0.4) and m["mean_p_30"] == pytest.approx(0.34)
    assert m["ece_30"] == pytest.approx((2 * 0.1 + 0.4 + 0.6 + 6 * 0.1) / 10)  # bins 0.9, 0.6, 0.4, 0.1
    assert "ece_90" not in m
    names = metric_names("timing", m, baseline="klaviyo")
    assert names["timing_baseline_klaviyo_val_mae_days"] == 10
    assert metric_names("value", value_metrics(Y, Y))["value_val_spearman"] == pytest.approx(1.0)


def test_klaviyo_rule_and_tiers():
    days = klaviyo_days(pd.Series([10.0, 50.0, 3.0]), pd.Series([30.0, 20.0, np.nan]))
    np.testing.assert_array_equal(days, [20.0, 1.0, np.nan])  # overdue: the next day; one order: no date
    tiers = value_tiers(np.arange(10.0), (0.5, 0.8))
    assert list(tiers) == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2


# ---------------------------------------------------------------- timing: monotone by construction


def test_person_period_rows_and_the_date_where_the_curve_reaches_a_level():
    grid = (7, 14, 30)
    np.testing.assert_array_equal(event_interval(np.array([1, 7, 8, 30, 31, np.nan]), grid), [0, 0, 1, 2, 3, 3])
    X = pd.DataFrame({"f": [1.0, 2.0, 3.0]})
    rows, y = person_period(X, np.array([3.0, 20.0, np.nan]), grid)
    assert list(rows["f"]) == [1, 2, 2, 2, 3, 3, 3] and list(y) == [1, 0, 0, 1, 0, 0, 0]
    assert list(rows["interval_start_days"]) == [0, 0, 7, 14, 0, 7, 14]
    curve = np.array([[0.2, 0.5, 0.9], [0.1, 0.2, 0.3], [0.7, 0.8, 0.9]])
    np.testing.assert_array_equal(days_at(curve, grid, 0.5), [14, np.nan, 5])  # 0.5/0.7 of 7 days, rounded up
    np.testing.assert_array_equal(days_at(curve, grid, 0.5 * curve[:, -1]), [13, 11, 5])
    np.testing.assert_array_equal(next_order_days_from_curve(curve, grid, "likely"), [13, np.nan, 5])


class _Hazard:
    """A hazard classifier with arbitrary, non-monotone output across intervals."""

    def predict_proba(self, X):
        h = 0.5 + 0.45 * np.sin(X["f"].to_numpy() * 3 + X["interval_start_days"].to_numpy())
        return np.c_[1 - h, h]


def test_p_within_d_is_monotone_in_d_whatever_the_hazards():
    model = TimingModel(grid=(7, 14, 30, 60, 90), hazard=_Hazard())
    curve = model.predict(pd.DataFrame({"f": np.linspace(-3, 3, 200)}))
    assert (np.diff(curve, axis=1) >= 0).all() and (curve >= 0).all() and (curve <= 1).all()


# ---------------------------------------------------------------- the models on the real sample


@pytest.fixture(scope="module")
def sample_snapshots(tmp_path_factory):
    from segment.pipeline.config_file import load_config
    from tests.conftest import write_config

    folder = tmp_path_factory.mktemp("value")
    data = {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS, "non_product_codes": NON_PRODUCT}
    cfg = load_config(write_config(folder, data))
    con = connect()
    prepare(con, cfg.data)
    first, last = data_span(con)
    plan = plan_snapshots(first, last, TimeConfig(train_snapshots=12))
    snaps = value_snapshots(con, [*plan.train, *plan.validation], horizon_days=90, grid_end=90, feature_horizon=90)
    return plan, snaps, purchase_day_summary(con, plan.validation[-1])


FAST = LightGBMConfig(learning_rate=0.1, min_child_samples=100)


def test_the_value_model_ranks_future_revenue_better_than_trivial_baselines(sample_snapshots):
    plan, snaps, _ = sample_snapshots
    result = fit_value(snaps, plan, ValueConfig(), FAST)
    model = result.metrics["model"]
    recency = value_metrics(result.y_val, -result.X_val["recency_days"].to_numpy())  # "the most recent buyers"
    assert model["spearman"] > recency["spearman"] + 0.02 and model["gini"] > recency["gini"] + 0.02
    assert model["spearman"] > result.metrics["last_h_days"]["spearman"]
    assert 0.3 < model["bias"] < 3  # the level is learnt, not a constant off by orders of magnitude
    assert len(result.y_val) == (snaps["cutoff"] == plan.validation[-1]).sum()
    val = snaps[snaps["cutoff"] == plan.validation[-1]]  # the whole table, labels too: the model takes its columns
    np.testing.assert_allclose(result.model.predict(val), result.scores["model"])


def test_the_timing_model_is_monotone_and_better_calibrated_than_a_constant_on_real_data(sample_snapshots):
    plan, snaps, _ = sample_snapshots
    result = fit_timing(snaps, plan, ValueConfig(), FAST)
    curve = result.model.predict(result.X_val)
    assert (np.diff(curve, axis=1) >= 0).all()
    hit90 = (~np.isnan(result.actual_days)).astype(float)
    brier = ((curve[:, -1] - hit90) ** 2).mean()
    const = ((result.p_within["constant"][90] - hit90) ** 2).mean()
    assert brier < 0.9 * const  # P(within 90 days) carries real signal on unseen customers
    for rule in ("model", "model_crossing"):  # both date exactly the customers likely to order within 90 days
        dated = result.days[rule]
        assert np.isnan(dated[curve[:, -1] < 0.5]).all() and (dated[curve[:, -1] >= 0.5] <= 90).all()
    likely = curve[:, -1] >= 0.5
    assert (result.days["model"][likely] <= result.days["model_crossing"][likely]).all()


def test_value_and_timing_training_is_capped_by_whole_customers_and_the_card_says_so(sample_snapshots):
    from segment.models.value_card import value_card

    plan, snaps, _ = sample_snapshots
    available = snaps["cutoff"].isin(plan.train).sum()
    value = fit_value(snaps, plan, ValueConfig(), FAST, max_rows=3000, seed=7)
    rows = value.rows
    assert rows["training_rows_available"] == available and rows["training_rows_sampled"] <= 3000
    assert rows["train_rows"] + rows["tuning_rows"] == rows["training_rows_sampled"] < available
    assert len(value.y_val) == (snaps["cutoff"] == plan.validation[-1]).sum()  # validation rows stay whole
    assert value.metrics["model"]["spearman"] > value.metrics["last_h_days"]["spearman"]  # still a model
    assert "Training was capped" in value_card("value", plan, value)
    assert "Training was capped" not in value_card("value", plan, fit_value(snaps, plan, ValueConfig(), FAST))
    upstream = fit_value(snaps, plan, ValueConfig(), FAST, rows_available=available + 500)  # capped by the snapshot
    assert f"{available:,} of {available + 500:,} training-cutoff rows" in value_card("value", plan, upstream)
    n_val = int((snaps["cutoff"] == plan.validation[-1]).sum())  # the validation cap, applied upstream too
    held = fit_value(snaps, plan, ValueConfig(), FAST, validation_rows_available=n_val + 70)
    assert f"{n_val:,} of {n_val + 70:,} validation-cutoff rows" in value_card("value", plan, held)
    assert "Validation was capped" not in value_card("value", plan, upstream)
    timing = fit_timing(snaps, plan, ValueConfig(), FAST, max_rows=3000, seed=7)
    assert timing.rows["train_rows"] + timing.rows["tuning_rows"] <= 3000  # person-period rows: the fitted frame
    assert timing.rows["training_rows_sampled"] <= 3000 // len(timing.grid)


def test_numpy_btyd_matches_pymc_marketing(sample_snapshots):
    """Our BG/NBD x Gamma-Gamma expected revenue is the textbook one: pymc-marketing's (MAP) agrees, where installed.

    pymc-marketing's expected purchases and spend are compared (its P(no purchase) drops BG/NBD's x > 0 term,
    docs/models.md, so the timing baseline is not compared with it).
    """
    pytest.importorskip("pymc_marketing")
    import warnings

    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    from segment.models.btyd import btyd_features
    from segment.models.value_baselines import BtydFit

    plan, _, summary = sample_snapshots
    ours = btyd_features(summary.assign(cutoff=plan.validation[-1]), 90)["btyd_expected_revenue"].to_numpy()
    assert np.allclose(BtydFit(summary).expected_revenue(summary, 90), ours, equal_nan=True)  # one implementation
    data = summary.assign(customer_id=np.arange(len(summary)))
    data = data[data["T"] > 0]
    spend = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]])
        bg.fit(method="map", progressbar=False)
        gg = GammaGammaModel(data=spend[["customer_id", "frequency", "monetary_value"]])
        gg.fit(method="map", progressbar=False)
        every = summary.assign(customer_id=np.arange(len(summary)), T=summary["T"].clip(lower=1.0))
        n = bg.expected_purchases(data=every, future_t=90)
        m = gg.expected_customer_spend(data=every.assign(monetary_value=every["monetary_value"].clip(lower=0)))
    theirs = np.clip(n.mean([d for d in n.dims if d != "customer_id"]).to_numpy(), 0, None) * np.clip(
        m.mean([d for d in m.dims if d != "customer_id"]).to_numpy(), 0, None
    )
    assert np.corrcoef(ours, theirs)[0, 1] > 0.999  # MAP with weak priors: close, not equal
    assert ours.sum() == pytest.approx(theirs.sum(), rel=0.02)
