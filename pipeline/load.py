"""Read transaction files into one typed DuckDB table of canonical columns.

DuckDB scans CSV and Parquet out of core, so the history never lives as Python objects.
Every check names the file and the column and shows example values; nothing is written.
"""

from __future__ import annotations

import difflib
import glob
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.config import DataConfig
from pipeline.errors import InputError

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
NUMERIC = ("quantity", "unit_price", "amount")
TEXT = ("order_id", "product_id", "category", "country")


@dataclass(frozen=True)
class SourceFile:
    """One input file and how many rows it holds."""

    path: str
    format: str
    rows: int
    bytes: int


def _suffix(path: Path) -> str:
    suffixes = "".join(path.suffixes[-2:]).lower()
    return suffixes if suffixes in CSV_SUFFIXES else path.suffix.lower()


def expand_sources(patterns: list[str]) -> list[Path]:
    """Expand files, folders and globs into a sorted, de-duplicated list of data files."""
    files: list[Path] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            found = [f for f in sorted(p.rglob("*")) if f.is_file() and _suffix(f) in CSV_SUFFIXES | PARQUET_SUFFIXES]
        else:
            found = [Path(f) for f in sorted(glob.glob(pattern, recursive=True)) if Path(f).is_file()]
        if not found:
            raise InputError("matches no CSV or Parquet file", file=pattern)
        for f in found:
            if _suffix(f) not in CSV_SUFFIXES | PARQUET_SUFFIXES:
                raise InputError(f"unknown file type {f.suffix!r}: expected .csv, .tsv or .parquet", file=str(f))
            if f not in files:
                files.append(f)
    return files


def _relation(con: duckdb.DuckDBPyConnection, path: Path, cfg: DataConfig) -> duckdb.DuckDBPyRelation:
    try:
        if _suffix(path) in PARQUET_SUFFIXES:
            return con.read_parquet(str(path))
        return con.read_csv(
            str(path),
            header=True,
            delimiter=cfg.csv.delimiter,
            quotechar=cfg.csv.quote,
            encoding=cfg.csv.encoding,
            all_varchar=True,
        )
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0]
        raise InputError(f"cannot be read: {first}", file=str(path)) from None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _customer_expr(src: str, dtype: str) -> str:
    col = _q(src)
    if dtype in ("DOUBLE", "FLOAT", "REAL") or dtype.startswith("DECIMAL"):
        # keep exact integer text: 17850.0 -> '17850'
        return (
            f"CASE WHEN {col} = trunc({col}) THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({col} AS VARCHAR) END"
        )
    return f"NULLIF(trim(CAST({col} AS VARCHAR)), '')"


def _timestamp_expr(src: str, dtype: str, fmt: str | None) -> str:
    col = _q(src)
    if dtype.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', {col})"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    text = f"NULLIF(trim(CAST({col} AS VARCHAR)), '')"
    if fmt:
        return f"try_strptime({text}, '{fmt.replace(chr(39), chr(39) * 2)}')"
    return f"TRY_CAST({text} AS TIMESTAMP)"


def _numeric_expr(src: str) -> str:
    return f"TRY_CAST(NULLIF(trim(CAST({_q(src)} AS VARCHAR)), '') AS DOUBLE)"


def _select_list(rel: duckdb.DuckDBPyRelation, path: Path, cfg: DataConfig) -> dict[str, str]:
    """Canonical name -> SQL expression over the file's columns, after checking they exist."""
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    exprs: dict[str, str] = {}
    for canon, src in cfg.columns.mapped().items():
        if src not in types:
            close = difflib.get_close_matches(src, list(types), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the file has {list(types)}"
            raise InputError(f"mapped column (data.columns.{canon}) does not exist{hint}", file=str(path), column=src)
        dtype = types[src]
        if canon == "customer_id":
            exprs[canon] = _customer_expr(src, dtype)
        elif canon == "timestamp":
            exprs[canon] = _timestamp_expr(src, dtype, cfg.timestamp_format)
        elif canon in NUMERIC:
            exprs[canon] = _numeric_expr(src)
        else:
            exprs[canon] = f"NULLIF(trim(CAST({_q(src)} AS VARCHAR)), '')"
    return exprs


def _check_parse(rel: duckdb.DuckDBPyRelation, path: Path, cfg: DataConfig, exprs: dict[str, str]) -> int:
    """Fail on values that do not parse; return the row count. One scan of the file."""
    mapped = cfg.columns.mapped()
    checked = [c for c in ("timestamp", *NUMERIC) if c in exprs]
    counts = ", ".join(
        f"count(*) FILTER (WHERE {_q(mapped[c])} IS NOT NULL AND {exprs[c]} IS NULL) AS {_q(c)}" for c in checked
    )
    row = rel.aggregate(f"count(*) AS n{', ' + counts if counts else ''}").fetchall()[0]
    n, bad = row[0], dict(zip(checked, row[1:], strict=True))
    if n == 0:
        raise InputError("has no data rows", file=str(path))
    for canon, count in bad.items():
        if count:
            src = mapped[canon]
            examples = [
                r[0]
                for r in rel.filter(f"{_q(src)} IS NOT NULL AND {exprs[canon]} IS NULL")
                .project(_q(src))
                .limit(5)
                .fetchall()
            ]
            kind = "timestamps" if canon == "timestamp" else "numbers"
            raise InputError(f"{count} value(s) are not valid {kind}", file=str(path), column=src, examples=examples)
    return n


def load_lines(con: duckdb.DuckDBPyConnection, cfg: DataConfig, table: str = "raw_lines") -> list[SourceFile]:
    """Create the view `table` of canonical, typed columns plus `source_file`; return the files read.

    A view, not a table: the files are scanned again by each query over it (cleaning makes two), so
    the raw history is never materialised in memory.
    """
    files = expand_sources(cfg.source)
    selects, infos = [], []
    for path in files:
        rel = _relation(con, path, cfg)
        exprs = _select_list(rel, path, cfg)
        rows = _check_parse(rel, path, cfg, exprs)
        infos.append(
            SourceFile(str(path), "parquet" if _suffix(path) in PARQUET_SUFFIXES else "csv", rows, path.stat().st_size)
        )
        alias = f"src{len(selects)}"
        rel.create_view(alias, replace=True)
        cols = ", ".join(f"{e} AS {_q(c)}" for c, e in exprs.items())
        file_lit = str(path).replace("'", "''")
        selects.append(f"SELECT {cols}, '{file_lit}' AS source_file FROM {alias}")
    con.execute(f"CREATE OR REPLACE VIEW {table} AS " + " UNION ALL BY NAME ".join(selects))
    return infos
