"""The engine protocol on Apache Spark: DuckDB-dialect SQL in, translated by `dialect.to_spark`, pandas out.

Tables are session-scoped: `create_table` runs the query, numbers its rows (`__rowid`, for DuckDB's `rowid`),
checkpoints the result on the executors (so the numbers and the content never change when Spark recomputes;
lazily: the first query that reads the table computes and keeps it, which saves one job per table) and
registers it as a temporary view, plus `<name>__rowid` with the row numbers. Nothing is written to a
metastore or a warehouse folder, as nothing is in DuckDB's in-memory database.

pyspark is imported only here and only when an engine is made: the default DuckDB path never needs it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlglot import exp

from segment.errors import ConfigError
from segment.features.dialect import ROWID, rowid_relation, translate

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL_HINT = "engine=spark needs the Spark extra and Java 17: pip install -e '.[spark]'"
# Local-mode settings for tests and a one-machine run; a cluster's own session (spark-submit, Databricks)
# is used as it is, except for the session time zone, which the translation needs to be UTC.
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
}


def require_pyspark() -> None:
    """Fail with one clear message when pyspark (the `spark` extra) is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The active Spark session, or a new local one (`master` default `local[2]`) with `LOCAL_CONF`.

    PYSPARK_PYTHON is set to this interpreter, so Python workers (UDFs, model scoring) load this environment.
    """
    require_pyspark()
    # pyspark 4.x warns on every pandas conversion under pandas 3; the conversions used here are tested
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active
    builder = SparkSession.builder.master(master or "local[2]").appName("segment")
    for key, value in {**LOCAL_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # no Java, or a broken one: say so in one line
        raise ConfigError(f"{INSTALL_HINT} (Spark did not start: {str(e).splitlines()[0][:200]})") from None
    session.sparkContext.setLogLevel("OFF")
    return session


class _LiveSchema(Mapping[str, Sequence[str]]):
    """Table name -> columns, read from the session when a rule asks."""

    def __init__(self, engine: SparkEngine) -> None:
        self._engine = engine

    def __getitem__(self, name: str) -> Sequence[str]:
        if not self._engine.exists(name):
            raise KeyError(name)
        return self._engine.columns(name)

    def __iter__(self) -> Iterator[str]:
        return iter(t.name for t in self._engine.spark.catalog.listTables())

    def __len__(self) -> int:
        return len(self._engine.spark.catalog.listTables())


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """A Spark result as pandas with DuckDB's types: DECIMAL as float64 (as DuckDB's `.df()` gives them)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    cols = [F.col(f"`{f.name}`") for f in df.schema.fields]
    cols = [
        c.cast("double").alias(f.name) if isinstance(f.dataType, DecimalType) else c
        for c, f in zip(cols, df.schema.fields, strict=True)
    ]
    return df.select(*cols).toPandas()


class SparkEngine:
    """Runs DuckDB-dialect statements on a SparkSession (the `Engine` protocol, plus `execute` for DDL/DML)."""

    def __init__(self, spark: SparkSession | None = None) -> None:
        self.spark = spark or spark_session()
        self.schema = _LiveSchema(self)
        self.con = SparkConnection(self)  # for steps that still take a DuckDB connection (actions at scoring)

    # --- the Engine protocol ---
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run a SELECT (with `?` parameters) and return pandas."""
        df = self.run(sql, params or ())
        if df is None:
            raise ValueError(f"not a query: {sql[:80]!r}")
        return to_pandas(df)

    def create_table(self, name: str, sql: str) -> None:
        """CREATE OR REPLACE TABLE name AS <sql>, materialised (see the module docstring)."""
        self.run(f"CREATE OR REPLACE TABLE {name} AS {sql}")

    def register(self, name: str, frame: pd.DataFrame | DataFrame) -> None:
        """A pandas (or Spark) frame as the relation `name`."""
        df = frame if not isinstance(frame, pd.DataFrame) else self.spark.createDataFrame(frame)
        df.createOrReplaceTempView(name)

    def columns(self, name: str) -> list[str]:
        """The relation's column names, in order."""
        return list(self.spark.table(name).columns)

    def drop(self, name: str) -> None:
        """Drop the table `name` (and its row-number companion) if it exists."""
        self.unregister(name)

    # --- beyond the protocol ---
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run a statement (DDL, DML or a small query) and return its rows as tuples, as `DuckDBEngine.execute`."""
        df = self.run(sql, params or ())
        return [] if df is None else [tuple(r) for r in df.collect()]

    def exists(self, name: str) -> bool:
        """True when `name` is a table or view of the session."""
        return bool(self.spark.catalog.tableExists(name))

    def unregister(self, name: str) -> None:
        """Drop the relation `name` and its row-number companion, if present."""
        self.spark.catalog.dropTempView(name)
        self.spark.catalog.dropTempView(rowid_relation(name))

    def materialize(self, name: str, df: DataFrame) -> None:
        """Number `df`'s rows, checkpoint it and register it as `name` and `<name>__rowid`."""
        from pyspark.sql import functions as F

        if ROWID in df.columns:
            df = df.drop(ROWID)
        stored = df.withColumn(ROWID, F.monotonically_increasing_id()).localCheckpoint(eager=False)
        stored.createOrReplaceTempView(rowid_relation(name))
        stored.drop(ROWID).createOrReplaceTempView(name)

    def run(self, sql: str, params: Sequence[Any] = ()) -> DataFrame | None:
        """Run one DuckDB statement; a query returns its (lazy) Spark DataFrame, anything else None."""
        stmt = translate(sql, self.schema, params)
        if isinstance(stmt, exp.Create):
            kind = str(stmt.args.get("kind", "")).upper()
            if kind == "TABLE" and stmt.expression is not None:
                self.materialize(stmt.this.name, self.spark.sql(stmt.expression.sql("spark")))
                return None
            self.spark.sql(stmt.sql("spark"))
            return None
        if isinstance(stmt, exp.Drop):
            for table in stmt.args.get("tables") or [stmt.this]:
                self.unregister(table.name)
            return None
        if isinstance(stmt, exp.Set) or (isinstance(stmt, exp.Command) and stmt.name.upper() in ("CHECKPOINT", "SET")):
            return None  # DuckDB settings (memory limit, spill folder): Spark's are set on the session
        return self.spark.sql(stmt.sql("spark"))


class _Result:
    def __init__(self, df: DataFrame | None) -> None:
        self._df = df

    def fetchall(self) -> list[tuple]:
        return [] if self._df is None else [tuple(r) for r in self._df.collect()]

    def df(self) -> pd.DataFrame:
        return pd.DataFrame() if self._df is None else to_pandas(self._df)


class _Relation:
    def __init__(self, columns: list[str]) -> None:
        self.columns = columns


class SparkConnection:
    """The part of a DuckDB connection's API that today's cleaning and feature functions call, on Spark.

    A bridge: `clean_lines`, `build_orders`, `customer_features`, ... take a DuckDB connection and run their
    SQL through `execute`; given this object they run the same SQL, translated, on Spark. Once those
    functions take an `Engine` (issue 15), `SparkEngine` is used directly and this class goes.
    """

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Result:
        """Run one DuckDB statement (with `?` parameters) on Spark."""
        return _Result(self.engine.run(sql, parameters or ()))

    def table(self, name: str) -> _Relation:
        """The relation `name`: only its `columns` are used."""
        return _Relation(self.engine.columns(name))

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """A pandas frame as the relation `name`."""
        self.engine.register(name, frame)

    def unregister(self, name: str) -> None:
        """Drop the relation `name`."""
        self.engine.unregister(name)
