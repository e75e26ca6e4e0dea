"""Read transaction files (or a SQL query) into one typed DuckDB view of canonical columns.

DuckDB scans CSV and Parquet out of core, so the history never lives as Python objects.
Every check names the file and the column and shows example values; nothing is written.
"""

from __future__ import annotations

import atexit
import codecs
import difflib
import glob
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from segment.config import DataConfig
from segment.errors import ConfigError, InputError
from segment.pipeline import hints
from segment.pipeline.column_sql import (
    customer_expr,
    numeric_expr,
    quote_ident,
    text_expr,
    timestamp_expr,
    typed,
)
from segment.pipeline.safe_input import csv_header, csv_read_error, diagnose_csv, python_can_parse
from segment.pipeline.sql_source import copy_query
from segment.pipeline.zones import SUFFIX
from segment.schema import CUSTOMER_ID, NUMERIC_LINE_COLUMNS, TEXT_LINE_COLUMNS

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
NUMERIC, TEXT = NUMERIC_LINE_COLUMNS, TEXT_LINE_COLUMNS


@dataclass(frozen=True)
class SourceFile:
    """One input file and how many rows it holds."""

    path: str
    format: str
    rows: int
    bytes: int


def file_suffix(path: Path) -> str:
    """The suffix that says the format: `.csv.gz` counts as one, `.parquet` as itself."""
    suffixes = "".join(path.suffixes[-2:]).lower()
    return suffixes if suffixes in CSV_SUFFIXES else path.suffix.lower()


def expand_sources(patterns: list[str]) -> list[Path]:
    """Expand files, folders and globs into a sorted, de-duplicated list of data files."""
    files: list[Path] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            known = CSV_SUFFIXES | PARQUET_SUFFIXES
            found = [f for f in sorted(p.rglob("*")) if f.is_file() and file_suffix(f) in known]
        else:
            found = [Path(f) for f in sorted(glob.glob(pattern, recursive=True)) if Path(f).is_file()]
        if not found:
            raise InputError("matches no CSV or Parquet file", file=pattern)
        for f in found:
            if file_suffix(f) not in CSV_SUFFIXES | PARQUET_SUFFIXES:
                raise InputError(f"unknown file type {f.suffix!r}: expected .csv, .tsv or .parquet", file=str(f))
            if f not in files:
                files.append(f)
    return files


NATIVE_ENCODINGS = {"utf-8", "utf8", "utf-16", "utf16", "latin-1", "latin1", "iso-8859-1"}


def _utf8_copy(path: Path, encoding: str) -> Path:
    """Transcode a CSV in another encoding (cp1252, shift_jis, ...) to a temporary UTF-8 file, streaming."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"data.csv.encoding: unknown encoding {encoding!r}") from None
    fd, tmp = tempfile.mkstemp(prefix="segment-", suffix=".csv")
    atexit.register(os.unlink, tmp)
    try:
        with open(path, encoding=encoding, newline="") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except UnicodeDecodeError as e:
        raise InputError(
            f"cannot be decoded as {encoding} (byte {e.start}): set data.csv.encoding to the file's encoding",
            file=str(path),
        ) from None
    return Path(tmp)


def _relation(con: duckdb.DuckDBPyConnection, path: Path, cfg: DataConfig) -> duckdb.DuckDBPyRelation:
    if path.stat().st_size == 0:
        raise InputError("is empty (0 bytes): expected a header row and order lines", file=str(path))
    try:
        if file_suffix(path) in PARQUET_SUFFIXES:
            _check_parquet_names(path)
            return con.read_parquet(str(path))
        encoding = cfg.csv.encoding.lower()
        target = path if encoding in NATIVE_ENCODINGS else _utf8_copy(path, cfg.csv.encoding)
        if target is not path:
            encoding = "utf-8"
        params = {"path": str(target), "delim": cfg.csv.delimiter, "quote": cfg.csv.quote, "enc": encoding}
        if not python_can_parse(cfg.csv.delimiter, cfg.csv.quote):
            return con.sql(
                "SELECT * FROM read_csv($path, header = true, delim = $delim, quote = $quote, encoding = $enc, "
                "all_varchar = true)",
                params=params,
            )
        # the header as written (duplicates refused): the engine then checks every line against it, instead
        # of guessing the columns from a sample, where one line with extra fields could become the header
        header = csv_header(target, encoding, cfg.csv.delimiter, cfg.csv.quote, str(path))
        return con.sql(
            "SELECT * FROM read_csv($path, header = true, delim = $delim, quote = $quote, encoding = $enc, "
            "columns = $columns)",
            params={**params, "columns": dict.fromkeys(header, "VARCHAR")},
        )
    except duckdb.Error as e:
        raise _read_error(path, cfg, e) from None


def _check_parquet_names(path: Path) -> None:
    """Duplicate column names are an error: DuckDB would rename the second silently (a -> a_1)."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        raise InputError("cannot be read as Parquet (damaged or not a Parquet file)", file=str(path)) from None
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"names column(s) {dupes} more than once: rename them", file=str(path))


def _read_error(path: Path, cfg: DataConfig, e: duckdb.Error) -> InputError:
    """The engine's error as ours: file, line, problem; never the line itself (DuckDB quotes it)."""
    text = str(e)
    decoding = "unicode" in text.lower() or ("encod" in text.lower() and "sniffing" not in text.lower())
    if file_suffix(path) in PARQUET_SUFFIXES:
        return InputError("cannot be read as Parquet (damaged or not a Parquet file)", file=str(path))
    csv_opts = (cfg.csv.encoding, cfg.csv.delimiter, cfg.csv.quote)
    parsable = python_can_parse(cfg.csv.delimiter, cfg.csv.quote)
    if decoding and not (parsable and diagnose_csv(path, *csv_opts)):  # a broken line is named before encoding
        return InputError(
            f"cannot be decoded as {cfg.csv.encoding}: set data.csv.encoding to the file's encoding", file=str(path)
        )
    if not parsable:
        return InputError("cannot be read as CSV with the configured data.csv options", file=str(path))
    err = csv_read_error(path, str(path), *csv_opts, text)
    try:  # a header read as one column is the likelier cause: say which delimiter the names hold
        hint = hints.delimiter_hint(csv_header(path, *csv_opts, str(path)))
    except InputError:
        hint = ""
    return InputError(err.problem + hint, file=str(path)) if hint else err


def select_list(rel: duckdb.DuckDBPyRelation, name: str, cfg: DataConfig) -> dict[str, str]:
    """Canonical name -> SQL expression over the file's columns, after checking they exist."""
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    exprs: dict[str, str] = {}
    for canon, src in cfg.columns.mapped().items():
        if src not in types:
            close = difflib.get_close_matches(src, list(types), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the file has {list(types)}"
            hint += hints.delimiter_hint(list(types))
            raise InputError(f"mapped column (data.columns.{canon}) does not exist{hint}", file=name, column=src)
        dtype = types[src]
        if canon == CUSTOMER_ID:
            exprs[canon] = customer_expr(src, dtype)
        elif canon == "timestamp":
            exprs[canon] = timestamp_expr(src, dtype, cfg.timestamp_format, cfg.timezone)
        elif canon in NUMERIC:
            exprs[canon] = numeric_expr(src, dtype, cfg.csv.decimal)
        else:
            exprs[canon] = text_expr(quote_ident(src))
    for attr, src in cfg.customer_attributes.items():  # text carried only for exports; values never shown
        if src not in types:
            raise InputError(
                f"customer attribute column (data.customer_attributes.{attr}) does not exist", file=name, column=src
            )
        exprs[f"attr__{attr}"] = text_expr(quote_ident(src))
    return exprs


def _check_parse(rel: duckdb.DuckDBPyRelation, name: str, cfg: DataConfig, exprs: dict[str, str]) -> int:
    """Fail on values that do not parse; return the row count.

    One scan of the file for the columns that are parsed from text; typed columns cannot fail, so a file
    whose checked columns are all typed (Parquet) needs only its row count, which is in its metadata.
    """
    mapped = cfg.columns.mapped()
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    checked = [c for c in ("timestamp", *NUMERIC) if c in exprs and not typed(c, types[mapped[c]])]
    counts = ", ".join(
        f"count(*) FILTER (WHERE {quote_ident(mapped[c])} IS NOT NULL AND {exprs[c]} IS NULL) AS {quote_ident(c)}"
        for c in checked
    )
    row = rel.aggregate(f"count(*) AS n{', ' + counts if counts else ''}").fetchall()[0]
    n, bad = row[0], dict(zip(checked, row[1:], strict=True))
    if n == 0:
        raise InputError("has no data rows (only a header?)", file=name)
    for canon, count in bad.items():
        if count:
            src = mapped[canon]
            examples = [
                r[0]
                for r in rel.filter(f"{quote_ident(src)} IS NOT NULL AND {exprs[canon]} IS NULL")
                .project(quote_ident(src))
                .limit(5)
                .fetchall()
            ]
            kind = "timestamps" if canon == "timestamp" else "numbers"
            hint = (
                hints.timestamp_hint(examples, cfg.timestamp_format)
                if canon == "timestamp"
                else hints.decimal_hint(examples, cfg.csv.decimal)
            )
            if canon == "timestamp" and any(re.search(SUFFIX, str(e)) for e in examples):
                hint = (
                    " (a time-zone abbreviation that is not in the table of docs/loading.md, or an ambiguous one "
                    "such as IST or CST: write the offset, e.g. +05:30)"
                )
            raise InputError(f"{count} value(s) are not valid {kind}{hint}", file=name, column=src, examples=examples)
    return n


def load_lines(
    con: duckdb.DuckDBPyConnection,
    cfg: DataConfig,
    table: str = "raw_lines",
    paths: list[Path] | None = None,
    index_column: str | None = None,
) -> list[SourceFile]:
    """Create the view `table` of canonical, typed columns plus `source_file`; return the sources read.

    A view, not a table: the files are scanned again by each query over it (cleaning makes two), so
    the raw history is never materialised in memory. A SQL source is first copied into DuckDB in chunks.
    `paths` reads those files instead of `cfg.source` (the incremental store reads only new ones);
    `index_column` adds each line's file position in the list (0, 1, ...) as a column of that name.
    """
    if cfg.sql is not None:
        name, rows = copy_query(con, cfg.sql, "sql_rows")
        sources = [(name, con.table("sql_rows"), SourceFile(name, "sql", rows, 0))]
    else:
        sources = []
        for path in expand_sources(cfg.source) if paths is None else paths:
            fmt = "parquet" if file_suffix(path) in PARQUET_SUFFIXES else "csv"
            sources.append((str(path), _relation(con, path, cfg), SourceFile(str(path), fmt, 0, path.stat().st_size)))
    selects, infos, first_columns = [], [], None
    for name, rel, info in sources:
        if first_columns is not None and set(rel.columns) != first_columns[1]:
            check_same_mapped_columns(rel, name, cfg, first_columns)
        first_columns = first_columns or (name, set(rel.columns))
        exprs = select_list(rel, name, cfg)
        try:  # the first full scan: a malformed line past the engine's sample surfaces here
            rows = _check_parse(rel, name, cfg, exprs)
        except duckdb.Error as e:
            if info.format == "sql":
                raise InputError("cannot be read", file=name) from None
            raise _read_error(Path(name), cfg, e) from None
        infos.append(SourceFile(info.path, info.format, rows, info.bytes))
        alias = f"src{len(selects)}"
        rel.create_view(alias, replace=True)
        cols = ", ".join(f"{e} AS {quote_ident(c)}" for c, e in exprs.items())
        label = name.replace("'", "''")
        index = f", {len(selects)} AS {quote_ident(index_column)}" if index_column else ""
        selects.append(f"SELECT {cols}, '{label}' AS source_file{index} FROM {alias}")
    con.execute(f"CREATE OR REPLACE VIEW {table} AS " + " UNION ALL BY NAME ".join(selects))
    return infos


def check_same_mapped_columns(rel: Any, name: str, cfg: DataConfig, first: tuple[str, set[str]]) -> None:
    """Files may differ in unmapped columns; a mapped column missing here but present in the first file is named.

    `rel` is anything with the file's `columns` (a DuckDB relation, or the Spark engine's description of one).
    """
    for canon, src in cfg.columns.mapped().items():
        if src not in rel.columns and src in first[1]:
            raise InputError(
                f"columns disagree with {first[0]}: mapped column (data.columns.{canon}) is missing here "
                f"(this file has {list(rel.columns)})",
                file=name,
                column=src,
            )
