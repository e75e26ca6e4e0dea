"""The value and timing integration's pure pieces: skipped horizons, empty columns, the summary's sentences."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from segment.config import Config, ValueConfig
from segment.pipeline.prepare import Prepared
from segment.pipeline.reports_value import has_model, score_section, soon_count
from segment.pipeline.scoring_value import empty_value_columns, value_columns
from segment.pipeline.valuing import fit_value_models, model_name, value_metric_names
from segment.schema import SEGMENT_TABLE, VALUE_COLUMNS
from tests.conftest import canonical_lines, engine_with_lines


def _config(**sections) -> Config:
    data = {"source": ["x.csv"], "columns": {"customer_id": "c", "timestamp": "t", "amount": "a"}}
    return Config.model_validate({"data": data, **sections})


def test_every_horizon_too_long_for_the_data_is_skipped_with_a_note_not_an_error():
    lines = canonical_lines([("a", "2011-01-03", "o1", "p", 1, 10.0), ("a", "2011-03-01", "o2", "p", 2, 5.0)])
    data = Prepared(engine_with_lines(lines), None, date(2011, 1, 3), date(2011, 3, 1))
    cfg = _config(value={"horizon_days": [90, 365]})
    fits = fit_value_models(data, cfg)
    assert fits.value == {} and fits.timing is None
    assert set(fits.notes) == {"value_skipped", "value_365d_skipped", "timing_skipped"}
    assert fits.notes["value_365d_skipped"].startswith("value 365d skipped: the data spans 57 days")


def test_metric_names_are_stable_for_the_model_and_each_baseline():
    names = value_metric_names(model_name(365, first=False), {"model": {"gini": 0.8}, "last_h_days": {"gini": 0.7}})
    assert names == {"value_365d_val_gini": 0.8, "value_365d_baseline_last_h_days_val_gini": 0.7}
    assert model_name(90, first=True) == "value"


def test_without_champions_the_value_columns_are_empty_with_the_contract_types():
    assert value_columns(None, date(2011, 1, 1), _config(), None, None) is None
    empty = empty_value_columns(np.array([1, 2]))
    assert list(empty["customer_id"]) == ["1", "2"]
    typed = empty[list(VALUE_COLUMNS)].astype({c: SEGMENT_TABLE[c] for c in VALUE_COLUMNS})
    assert typed.isna().all().all()


def _table(versions: str) -> pd.DataFrame:
    when = date(2011, 12, 9)
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "expected_revenue": [500.0, 100.0, 50.0, 10.0, 0.0],
            "value_tier": ["high", "medium", "medium", "low", "low"],
            "expected_next_order_date": [date(2011, 12, 10), date(2011, 12, 23), date(2011, 12, 24), None, None],
            "model_versions": versions,
            "score_date": when,
        }
    )


def test_the_summary_counts_tiers_and_orders_expected_in_14_days():
    table = _table("churn:1,propensity:1,segmenter:1,value:2,timing:2")
    assert soon_count(table, date(2011, 12, 9)) == 2  # the 10th and the 23rd; the 24th is day 15
    section = score_section(table, date(2011, 12, 9))
    assert any("2 customers are expected to order in the next 14 days" in n for n in section.notes)
    assert "retrain" not in " ".join(section.notes) and len(section.tables) == 1
    assert ValueConfig().tier_percentiles == (0.5, 0.8)


def test_the_summary_says_to_retrain_when_the_store_has_no_value_or_timing_champion():
    table = _table("churn:1,propensity:1,segmenter:1").assign(
        expected_revenue=np.nan, value_tier=None, expected_next_order_date=None
    )
    notes = " ".join(score_section(table, date(2011, 12, 9)).notes)
    assert "no value champion is registered" in notes and "no timing champion is registered" in notes
    assert "segment train" in notes
    assert has_model("shop_value:3", "value") and not has_model("shop_propensity:3", "value")
