from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bench.generate import COLUMNS
from segment.config import Config
from segment.features.engine import DuckDBEngine
from segment.features.orders import build_orders
from segment.pipeline.config_file import load_config
from segment.pipeline.train import train

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SHARED = REPO.parent / "shared" / "data" / "online_retail_ii"
RETAIL_COLUMNS = dict(COLUMNS)  # the Online Retail II layout, as the generator writes it


def write_config(folder: Path, data: dict, **sections) -> Path:
    """Write a YAML config into `folder` whose MLflow store and outputs also live there."""
    raw = {
        "data": data,
        "tracking": {"uri": "sqlite:///mlflow.db", "artifact_root": "mlartifacts", "experiment": "test"},
        "output": {"root": "output"},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def lines_frame(rows: list[tuple]) -> pd.DataFrame:
    """Order lines from (customer, timestamp, invoice, product, quantity, price) tuples."""
    columns = ["Customer ID", "InvoiceDate", "Invoice", "StockCode", "Quantity", "Price"]
    return pd.DataFrame(rows, columns=columns).assign(
        InvoiceDate=lambda d: pd.to_datetime(d["InvoiceDate"], format="ISO8601"), Country="United Kingdom"
    )


def canonical_lines(rows: list[tuple]) -> pd.DataFrame:
    """Clean order lines in the canonical columns, from (customer, timestamp, order, product, quantity, price)."""
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "order_id", "product_id", "quantity", "unit_price"])
    return df.assign(
        timestamp=pd.to_datetime(df["timestamp"], format="ISO8601"),
        amount=df["quantity"] * df["unit_price"],
        country="United Kingdom",
    )


def engine_with_lines(lines: pd.DataFrame) -> DuckDBEngine:
    """Tables `lines` and `orders` built in memory from clean canonical lines: no files, no config."""
    engine = DuckDBEngine()
    engine.register("lines_df", lines)
    engine.create_table("lines", "SELECT * REPLACE (CAST(round(amount, 4) AS DECIMAL(18, 4)) AS amount) FROM lines_df")
    build_orders(engine)
    return engine


@pytest.fixture
def tiny_config(tmp_path: Path):
    """Build a Config over hand-made order lines written as Parquet in tmp_path."""

    def make(frames: dict[str, pd.DataFrame], columns: dict | None = None, **sections) -> Config:
        for name, df in frames.items():
            df.to_parquet(tmp_path / name, index=False)
        data = {"source": [str(tmp_path / n) for n in frames], "columns": columns or RETAIL_COLUMNS}
        return load_config(write_config(tmp_path, data, **sections))

    return make


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch):
    """No test may write to the developer's MLflow store through the environment."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server for SQL source and output tests: `.ci/run` starts one and sets TEST_POSTGRES_URL."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: TEST_POSTGRES_URL is not set (scripts/ci/postgres.sh starts one)")
    return url


NON_PRODUCT = ["POST", "DOT", "M", "C2", "D", "BANK CHARGES", "AMAZONFEE"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One real train on the bundled sample in its own folder and MLflow store, shared by the suite."""
    folder = tmp_path_factory.mktemp("e2e")
    data = {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS, "non_product_codes": NON_PRODUCT}
    path = write_config(  # a 2-trial search (Optuna comes with the dev extra), so its MLflow runs are tested
        folder, data, time={"train_snapshots": 4}, segments={"clusters": {"k_max": 5}}, models={"search": {"trials": 2}}
    )
    cfg = load_config(path)
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run before the autouse isolation below
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        return folder, cfg, train(cfg, path)
