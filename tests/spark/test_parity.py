"""Spark and DuckDB give the same data report, features, labels and gap quantiles from the same SQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install -e '.[spark]')")

from bench.generate import Shape, generate  # noqa: E402
from segment.features.customer import customer_features  # noqa: E402
from segment.features.gaps import gap_quantiles  # noqa: E402
from segment.features.labels import future_buyers  # noqa: E402
from segment.pipeline import prepare as duck  # noqa: E402
from segment.pipeline.config_file import load_config  # noqa: E402
from tests.conftest import NON_PRODUCT, RETAIL_COLUMNS, SAMPLE, write_config  # noqa: E402


def assert_frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every column equal: numbers within 1e-9 relative (NaN where NaN), the rest exactly."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    for col in a.columns:
        if a[col].dtype.kind in "fiu":
            np.testing.assert_allclose(a[col].astype(float), b[col].astype(float), rtol=1e-9, atol=0, err_msg=col)
        else:
            assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col


def run_both(engine, cfg, cutoffs: list[date]) -> None:
    from segment.features.engine import DuckDBEngine
    from segment.features.spark_engine import SparkConnection
    from segment.pipeline import spark_prepare

    con = duck.connect()
    report_duck = duck.prepare(con, cfg.data)
    report_spark = spark_prepare.prepare(engine, cfg.data)
    assert report_spark.to_dict() == report_duck.to_dict()
    assert duck.data_span(SparkConnection(engine)) == duck.data_span(con)
    con, spark = DuckDBEngine(con), engine
    feats_duck = customer_features(con, cutoffs, horizon_days=cfg.time.horizon_days)
    feats_spark = customer_features(spark, cutoffs, horizon_days=cfg.time.horizon_days)
    assert len(feats_duck) > 100 and feats_duck.shape[1] >= 29
    assert_frames_equal(feats_duck, feats_spark)
    key = ["cutoff", "customer_id"]
    buyers_duck = future_buyers(con, cutoffs, cfg.time.horizon_days).sort_values(key)
    buyers_spark = future_buyers(spark, cutoffs, cfg.time.horizon_days).sort_values(key)
    assert len(buyers_duck) > 0
    assert_frames_equal(buyers_duck, buyers_spark)
    gaps = {"loyal_orders": 4, "quantiles": (0.5, 0.9)}
    assert_frames_equal(gap_quantiles(con, cutoffs[-1], **gaps), gap_quantiles(spark, cutoffs[-1], **gaps))


@pytest.mark.spark
def test_sample_prepare_and_features_match_duckdb(engine, tmp_path: Path):
    data = {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS, "non_product_codes": NON_PRODUCT}
    cfg = load_config(write_config(tmp_path, data))
    run_both(engine, cfg, [date(2010, 12, 31), date(2011, 9, 30)])


def messy_lines(folder: Path) -> list[str]:
    """Generated lines, made messy: mixed countries (ties too) in orders, duplicates, missing ids, free lines;
    half as Parquet, half as CSV with text timestamps and numbers."""
    path = generate(folder / "gen.parquet", 12_000, seed=7, shape=Shape(products=300), chunk_customers=300)
    df = pd.read_parquet(path)
    rng = np.random.default_rng(7)
    pick = rng.uniform(size=len(df))
    df.loc[pick < 0.05, "Country"] = rng.choice(["Germany", "France", "Spain"], int((pick < 0.05).sum()))
    df.loc[(pick > 0.05) & (pick < 0.06), "Customer ID"] = None
    df.loc[(pick > 0.06) & (pick < 0.07), "Price"] = 0.0
    df.loc[(pick > 0.07) & (pick < 0.08), "StockCode"] = "POST"
    df = pd.concat([df, df.sample(300, random_state=1)], ignore_index=True)  # exact duplicate lines
    half = len(df) // 2
    df.iloc[:half].to_parquet(folder / "a.parquet", index=False)
    csv = df.iloc[half:].copy()
    csv["InvoiceDate"] = csv["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
    csv.to_csv(folder / "b.csv", index=False)
    return [str(folder / "a.parquet"), str(folder / "b.csv")]


@pytest.mark.spark
def test_generated_csv_and_parquet_match_duckdb(engine, tmp_path: Path):
    data = {"source": messy_lines(tmp_path), "columns": RETAIL_COLUMNS, "non_product_codes": ["POST"]}
    cfg = load_config(write_config(tmp_path, data))
    from segment.features.spark_engine import SparkConnection

    run_both(engine, cfg, [date(2022, 9, 30), date(2023, 6, 30)])
    # the orders with lines in several countries went through the UPDATE ... FROM rewrite
    mixed_orders = """SELECT count(*) FROM (
        SELECT order_id FROM lines GROUP BY customer_id, order_id, CAST("timestamp" AS DATE)
        HAVING min(country) <> max(country))"""
    assert SparkConnection(engine).execute(mixed_orders).fetchall()[0][0] > 10


@pytest.mark.spark
@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [("Quantity", "three", "not valid numbers"), ("InvoiceDate", "yesterday", "not valid timestamps")],
)
def test_bad_values_fail_with_the_duckdb_message(engine, tmp_path: Path, column, bad, message):
    from segment.errors import InputError
    from segment.pipeline import spark_prepare

    rows = pd.DataFrame(
        {
            "Invoice": ["1", "2"],
            "StockCode": ["A", "B"],
            "Quantity": ["1", "2"],
            "InvoiceDate": ["2024-01-01 10:00:00", "2024-01-02 11:00:00"],
            "Price": ["1.5", "2.5"],
            "Customer ID": ["7", "8"],
            "Country": ["UK", "UK"],
        }
    )
    rows.loc[1, column] = bad
    rows.to_csv(tmp_path / "lines.csv", index=False)
    cfg = load_config(write_config(tmp_path, {"source": [str(tmp_path / "lines.csv")], "columns": RETAIL_COLUMNS}))
    errors = []
    for run in (lambda: duck.prepare(duck.connect(), cfg.data), lambda: spark_prepare.prepare(engine, cfg.data)):
        with pytest.raises(InputError, match=message) as info:
            run()
        errors.append(str(info.value))
    assert errors[0] == errors[1] and bad in errors[0] and column in errors[0]
