"""The performance benchmark's own parts: the pandas feature reference and the stage timings it reads."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from bench.pandas_features import pandas_features, same_table
from segment.features.customer import customer_features
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import prepare_data
from segment.pipeline.progress import STAGE_TIMES_ENV, set_quiet, stage
from tests.conftest import RETAIL_COLUMNS, SAMPLE, write_config


@pytest.fixture(scope="module")
def sample_prepared(tmp_path_factory):
    """The bundled Online Retail II sample, loaded and cleaned as train does."""
    folder = tmp_path_factory.mktemp("sample")
    cfg = load_config(write_config(folder, {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS}))
    return prepare_data(cfg.data)


@pytest.mark.parametrize("days_before_last", [0, 200, 400])
def test_pandas_reference_equals_our_features_on_the_sample(sample_prepared, days_before_last):
    """Every column at a cutoff (whole-day ends, windows, gaps, returns, countries) matches our query."""
    engine, cutoff = sample_prepared.engine, sample_prepared.last - timedelta(days=days_before_last)
    ours = customer_features(engine, [cutoff], horizon_days=90)
    lines, orders = engine.query("SELECT * FROM lines"), engine.query("SELECT * FROM orders")
    reference = pandas_features(lines, orders, cutoff, 90)
    assert len(ours) > 500 and ours["gap_std_days"].notna().any() and (ours["return_rate"] > 0).any()
    same_table(ours, reference)


def test_pandas_reference_differs_when_a_definition_differs(sample_prepared):
    """The check is not vacuous: a reference with another horizon (seasonal windows) is caught."""
    engine, cutoff = sample_prepared.engine, sample_prepared.last
    ours = customer_features(engine, [cutoff], horizon_days=90)
    lines, orders = engine.query("SELECT * FROM lines"), engine.query("SELECT * FROM orders")
    with pytest.raises(AssertionError):
        same_table(ours, pandas_features(lines, orders, cutoff, 30))


def test_stage_times_are_appended_when_asked_even_when_quiet(tmp_path: Path, monkeypatch):
    out = tmp_path / "stages.jsonl"
    monkeypatch.setenv(STAGE_TIMES_ENV, str(out))
    set_quiet(True)
    try:
        with stage("first"):
            pass
        with stage("second"):
            sum(range(1000))
    finally:
        set_quiet(False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["first", "second"]
    assert all(r["seconds"] >= 0 for r in rows)


def test_no_stage_file_without_the_variable(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(STAGE_TIMES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with stage("quiet stage"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_reference_refuses_columns_it_does_not_cover(sample_prepared):
    engine = sample_prepared.engine
    lines = engine.query("SELECT *, 'x' AS category FROM lines")
    with pytest.raises(ValueError, match="category"):
        pandas_features(lines, engine.query("SELECT * FROM orders"), date(2011, 1, 1), 90)


def test_repeats_take_a_default_and_per_set_overrides(monkeypatch):
    from bench.perf_runs import repeats

    monkeypatch.setenv("BENCH_PERF_REPEATS", "3,10m=1,100M=2")
    assert repeats(["1m", "retail", "10m", "100m"]) == {"1m": 3, "retail": 3, "10m": 1, "100m": 2}
    monkeypatch.delenv("BENCH_PERF_REPEATS")
    assert repeats(["1m"]) == {"1m": 3}


def test_a_killed_command_is_recorded_not_raised():
    from bench.perf_runs import timed

    result = timed(["sh", "-c", "kill -9 $$"], may_fail=True)
    assert result["failed"] == "killed by signal 9" and result["peak"] > 0
    with pytest.raises(RuntimeError):
        timed(["sh", "-c", "exit 3"])
