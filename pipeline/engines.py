"""Which engine runs the SQL: DuckDB on this machine (default) or Spark (`engine: spark`, the `spark` extra).

Both run the same DuckDB-dialect SQL (Spark through `features.dialect`), so the rest of a run sees the same
tables and frames: `Prepared.engine` is a `DuckDBEngine` or a `SparkEngine`. The steps that still take a
DuckDB connection (cleaning, data span) get a `SparkConnection` on Spark, the part of a connection they use.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from segment.config import Config
from segment.errors import ConfigError
from segment.pipeline.prepare import Prepared, data_span, prepare_data

INSTALL_HINT = "engine=spark needs the Spark extra and Java 17: pip install -e '.[spark]'"


def require_spark() -> None:
    """Fail with one clear message when the `spark` extra (pyspark, sqlglot) is not installed."""
    missing = [m for m in ("pyspark", "sqlglot") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{INSTALL_HINT} ({' and '.join(missing)} not installed)")


def spark_engine(cfg: Config) -> Any:
    """A `SparkEngine` on the active session (spark-submit, Databricks) or a new one from `cfg.spark`."""
    require_spark()
    from segment.features.spark_engine import SparkEngine, spark_session

    return SparkEngine(spark_session(cfg.spark.master, cfg.spark.conf))


def prepare_for(cfg: Config, *, attributes: bool = False) -> Prepared:
    """Clean `lines` and `orders` in the configured engine, with the data report and the span of purchases."""
    if cfg.engine == "spark":
        engine = spark_engine(cfg)
        from segment.features.spark_engine import SparkConnection
        from segment.pipeline import spark_prepare

        report = spark_prepare.prepare(engine, cfg.data, attributes=attributes)
        return Prepared(engine, report, *data_span(SparkConnection(engine)))
    if cfg.store.enabled and cfg.data.sql is None:  # clean lines and orders kept between runs (pipeline/store.py)
        from segment.pipeline.store import prepare_stored

        return prepare_stored(cfg, attributes=attributes)
    return prepare_data(cfg.data, attributes=attributes)
