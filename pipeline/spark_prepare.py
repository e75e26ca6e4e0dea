"""Load, validate and clean the transactions on Spark into relations `lines` and `orders`: `prepare` on Spark.

The same input contract and cleaning rules as the DuckDB path, from the same SQL: the canonical column
expressions come from `pipeline.load`, cleaning and orders from `pipeline.clean` and `features.orders`, all
translated by `features.dialect`. Spark reads the files itself, so a source can be a local path or glob, any
Hadoop-compatible URI (`s3a://`, `abfss://`, `hdfs://`, `dbfs:/`) or, written `table:NAME`, a table of the
Spark catalog (a Databricks / Hive table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from segment.config import DataConfig
from segment.errors import ConfigError, InputError
from segment.features.orders import build_orders
from segment.features.spark_engine import SparkConnection, SparkEngine
from segment.pipeline.clean import DataReport, clean_lines, describe_orders
from segment.pipeline.column_sql import quote_ident, typed
from segment.pipeline.load import (
    CSV_SUFFIXES,
    NUMERIC,
    PARQUET_SUFFIXES,
    SourceFile,
    check_same_mapped_columns,
    expand_sources,
    file_suffix,
    select_list,
)

TABLE_PREFIX = "table:"
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


@dataclass(frozen=True)
class _Rel:
    """What `load.select_list` reads of a relation: its column names and DuckDB type names."""

    columns: list[str]
    types: list[str]


def duckdb_type(spark_type: object) -> str:
    """The DuckDB name of a Spark column type, as `load` decides how to convert a column by it."""
    from pyspark.sql import types as T

    simple = {
        T.StringType: "VARCHAR",
        T.DoubleType: "DOUBLE",
        T.FloatType: "FLOAT",
        T.LongType: "BIGINT",
        T.IntegerType: "INTEGER",
        T.ShortType: "SMALLINT",
        T.ByteType: "TINYINT",
        T.BooleanType: "BOOLEAN",
        T.DateType: "DATE",
        T.TimestampNTZType: "TIMESTAMP",
        T.TimestampType: "TIMESTAMP WITH TIME ZONE",
    }
    for cls, name in simple.items():
        if type(spark_type) is cls:
            return name
    if isinstance(spark_type, T.DecimalType):
        return f"DECIMAL({spark_type.precision},{spark_type.scale})"
    return str(spark_type).upper()


def _sources(cfg: DataConfig) -> list[tuple[str, str]]:
    """(location, format) of each source: local files expanded as on DuckDB; URIs and tables as given."""
    if cfg.sql is not None:
        raise ConfigError("engine=spark reads files, URIs or Spark tables: data.sql is for the DuckDB engine")
    out: list[tuple[str, str]] = []
    local: list[str] = []
    for pattern in cfg.source:
        if pattern.startswith(TABLE_PREFIX):
            out.append((pattern[len(TABLE_PREFIX) :], "table"))
        elif URI.match(pattern) and not pattern.startswith("file:/"):
            fmt = "csv" if file_suffix(Path(pattern.rstrip("/*"))) in CSV_SUFFIXES else "parquet"
            out.append((pattern, fmt))
        else:
            local.append(pattern)
    for path in expand_sources(local) if local else []:
        out.append((str(path), "parquet" if file_suffix(path) in PARQUET_SUFFIXES else "csv"))
    return out


def _read(engine: SparkEngine, location: str, fmt: str, cfg: DataConfig):
    spark = engine.spark
    try:
        if fmt == "table":
            return spark.table(location)
        if fmt == "parquet":
            return spark.read.parquet(location)
        return spark.read.csv(
            location,
            header=True,
            sep=cfg.csv.delimiter,
            quote=cfg.csv.quote,
            escape=cfg.csv.quote,  # RFC 4180 (a doubled quote), as DuckDB reads it; Spark's default is a backslash
            encoding=cfg.csv.encoding,
            inferSchema=False,  # every column as text, as DuckDB's all_varchar: load parses and checks them
            mode="FAILFAST",
        )
    except Exception as e:
        raise InputError(f"cannot be read by Spark: {str(e).splitlines()[0][:300]}", file=location) from None


def _check_parse(engine: SparkEngine, view: str, name: str, cfg: DataConfig, rel: _Rel, exprs: dict[str, str]) -> int:
    """Fail on values that do not parse (as `load._check_parse`, in SQL); return the row count."""
    mapped = cfg.columns.mapped()
    types = dict(zip(rel.columns, rel.types, strict=True))
    checked = [c for c in ("timestamp", *NUMERIC) if c in exprs and not typed(c, types[mapped[c]])]
    counts = "".join(
        f", count(*) FILTER (WHERE {quote_ident(mapped[c])} IS NOT NULL AND {exprs[c]} IS NULL) AS {quote_ident(c)}"
        for c in checked
    )
    row = engine.execute(f"SELECT count(*) AS n{counts} FROM {view}")[0]
    n, bad = row[0], dict(zip(checked, row[1:], strict=True))
    if n == 0:
        raise InputError("has no data rows (only a header?)", file=name)
    for canon, count in bad.items():
        if count:
            src = quote_ident(mapped[canon])
            sql = f"SELECT {src} FROM {view} WHERE {src} IS NOT NULL AND {exprs[canon]} IS NULL LIMIT 5"
            examples = [r[0] for r in engine.execute(sql)]
            kind = "timestamps" if canon == "timestamp" else "numbers"
            message = f"{count} value(s) are not valid {kind}"
            raise InputError(message, file=name, column=mapped[canon], examples=examples)
    return n


def load_lines(engine: SparkEngine, cfg: DataConfig, table: str = "raw_lines") -> list[SourceFile]:
    """Create the view `table` of canonical, typed columns plus `source_file`; return the sources read."""
    selects, infos, first = [], [], None
    for location, fmt in _sources(cfg):
        df = _read(engine, location, fmt, cfg)
        rel = _Rel(list(df.columns), [duckdb_type(f.dataType) for f in df.schema.fields])
        if first is not None:
            check_same_mapped_columns(rel, location, cfg, first)
        first = first or (location, set(rel.columns))
        exprs = select_list(rel, location, cfg)
        view = f"src{len(selects)}"
        df.createOrReplaceTempView(view)
        rows = _check_parse(engine, view, location, cfg, rel, exprs)
        size = Path(location).stat().st_size if fmt != "table" and Path(location).is_file() else 0
        infos.append(SourceFile(location, fmt, rows, size))
        cols = ", ".join(f"{e} AS {quote_ident(c)}" for c, e in exprs.items())
        label = location.replace("'", "''")
        selects.append(f"SELECT {cols}, '{label}' AS source_file FROM {view}")
    if not selects:
        raise InputError("matches no CSV or Parquet file", file=", ".join(cfg.source))
    engine.execute(f"CREATE OR REPLACE VIEW {table} AS " + " UNION ALL BY NAME ".join(selects))
    return infos


def prepare(engine: SparkEngine, cfg: DataConfig, *, attributes: bool = False) -> DataReport:
    """Create relations `lines` and `orders` (and `customer_attributes` when asked); return the data report."""
    files = load_lines(engine, cfg, table="raw_lines")
    con = SparkConnection(engine)
    report = clean_lines(con, cfg, files, source="raw_lines", table="lines")
    if attributes and cfg.customer_attributes:
        latest = ", ".join(f'arg_max("attr__{a}", "timestamp") AS "{a}"' for a in cfg.customer_attributes)
        engine.create_table(
            "customer_attributes",
            f"SELECT customer_id, {latest} FROM raw_lines WHERE customer_id IS NOT NULL GROUP BY customer_id",
        )
    engine.unregister("raw_lines")
    build_orders(engine, lines="lines", table="orders")
    return describe_orders(con, report, lines="lines", orders="orders")
