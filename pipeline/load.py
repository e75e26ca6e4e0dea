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
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from segment.config import DataConfig
from segment.errors import ConfigError, InputError
from segment.pipeline import hints
from segment.pipeline.sql_source import copy_query
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
        if _suffix(path) in PARQUET_SUFFIXES:
            return con.read_parquet(str(path))
        encoding = cfg.csv.encoding.lower()
        target = path if encoding in NATIVE_ENCODINGS else _utf8_copy(path, cfg.csv.encoding)
        if target is not path:
            encoding = "utf-8"
        return con.sql(
            "SELECT * FROM read_csv($path, header = true, delim = $delim, quote = $quote, encoding = $enc, "
            "all_varchar = true)",
            params={"path": str(target), "delim": cfg.csv.delimiter, "quote": cfg.csv.quote, "enc": encoding},
        )
    except duckdb.Error as e:
        text = str(e)
        if "unicode" in text.lower() or "encod" in text.lower():
            raise InputError(
                f"cannot be decoded as {cfg.csv.encoding}: set data.csv.encoding to the file's encoding",
                file=str(path),
            ) from None
        first = text.strip().splitlines()[0]
        raise InputError(f"cannot be read: {first}", file=str(path)) from None


def quote_ident(name: str) -> str:
    """A column name as a quoted SQL identifier (any name, even with quotes in it)."""
    return '"' + name.replace('"', '""') + '"'


def _text_expr(col: str) -> str:
    """`NULLIF(trim(CAST(col AS VARCHAR)), '')`, calling trim only where it can change something.

    trim removes Unicode space separators and copies every string, which makes it the costliest step of a
    scan. A non-empty pure-ASCII string (byte length = character length) that neither starts nor ends with a
    space is returned as it is: the only ASCII space separator is ' '. Every other string is trimmed.
    """
    v = f"CAST({col} AS VARCHAR)"
    return (
        f"CASE WHEN {v} <> '' AND strlen({v}) = length({v}) AND NOT prefix({v}, ' ') AND NOT suffix({v}, ' ') "
        f"THEN {v} ELSE NULLIF(trim({v}), '') END"
    )


def _customer_expr(src: str, dtype: str) -> str:
    col = quote_ident(src)
    if dtype in ("DOUBLE", "FLOAT", "REAL") or dtype.startswith("DECIMAL"):
        # keep exact integer text: 17850.0 -> '17850'
        return (
            f"CASE WHEN {col} = trunc({col}) THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({col} AS VARCHAR) END"
        )
    return _text_expr(col)


def _timestamp_expr(src: str, dtype: str, fmt: str | None, zone: str) -> str:
    """Naive timestamps in `zone`: zoned values are converted to it, naive ones are taken as already in it."""
    col = quote_ident(src)
    z = zone.replace("'", "''")
    if dtype.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('{z}', {col})"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    text = _text_expr(col)
    if fmt:
        parsed = f"try_strptime({text}, '{fmt.replace(chr(39), chr(39) * 2)}')"
        return f"timezone('{z}', {parsed})" if "%z" in fmt or "%Z" in fmt else parsed
    # an offset after a time of day (a bare date's "-01" is not one)
    zoned = f"regexp_matches({text}, '[0-9]:[0-9]{{2}}(:[0-9]{{2}}([.][0-9]+)?)? ?(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
    return (
        f"CASE WHEN {zoned} THEN timezone('{z}', TRY_CAST({text} AS TIMESTAMPTZ)) "
        f"ELSE TRY_CAST({text} AS TIMESTAMP) END"
    )


# Types whose direct cast to DOUBLE gives the same value as the text route (shortest round-trip text of a
# DOUBLE parses back to itself; integers convert with the same rounding). FLOAT and DECIMAL keep the text route:
# a FLOAT's shortest text is not its exact value, and a wide DECIMAL's direct cast may round differently.
EXACT_DOUBLE = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DOUBLE"}


def _numeric_expr(src: str, dtype: str, decimal: str = ".") -> str:
    if dtype in EXACT_DOUBLE:  # cannot fail to parse: no text round trip, nothing to check
        return f"CAST({quote_ident(src)} AS DOUBLE)"
    text = _text_expr(quote_ident(src))
    if decimal == ",":  # 1.234,50 -> 1234.50: '.' and spaces are thousands separators
        text = f"replace(regexp_replace({text}, '[. ]', '', 'g'), ',', '.')"
    return f"TRY_CAST({text} AS DOUBLE)"


def _typed(canon: str, dtype: str) -> bool:
    """True when a column of type `dtype` is converted without parsing text: it cannot fail, so it is not checked."""
    if canon == "timestamp":
        return dtype.startswith("TIMESTAMP") or dtype == "DATE"
    return dtype in EXACT_DOUBLE


def _select_list(rel: duckdb.DuckDBPyRelation, name: str, cfg: DataConfig) -> dict[str, str]:
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
            exprs[canon] = _customer_expr(src, dtype)
        elif canon == "timestamp":
            exprs[canon] = _timestamp_expr(src, dtype, cfg.timestamp_format, cfg.timezone)
        elif canon in NUMERIC:
            exprs[canon] = _numeric_expr(src, dtype, cfg.csv.decimal)
        else:
            exprs[canon] = _text_expr(quote_ident(src))
    for attr, src in cfg.customer_attributes.items():  # text carried only for exports; values never shown
        if src not in types:
            raise InputError(
                f"customer attribute column (data.customer_attributes.{attr}) does not exist", file=name, column=src
            )
        exprs[f"attr__{attr}"] = _text_expr(quote_ident(src))
    return exprs


def _check_parse(rel: duckdb.DuckDBPyRelation, name: str, cfg: DataConfig, exprs: dict[str, str]) -> int:
    """Fail on values that do not parse; return the row count.

    One scan of the file for the columns that are parsed from text; typed columns cannot fail, so a file
    whose checked columns are all typed (Parquet) needs only its row count, which is in its metadata.
    """
    mapped = cfg.columns.mapped()
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    checked = [c for c in ("timestamp", *NUMERIC) if c in exprs and not _typed(c, types[mapped[c]])]
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
            raise InputError(f"{count} value(s) are not valid {kind}{hint}", file=name, column=src, examples=examples)
    return n


def load_lines(con: duckdb.DuckDBPyConnection, cfg: DataConfig, table: str = "raw_lines") -> list[SourceFile]:
    """Create the view `table` of canonical, typed columns plus `source_file`; return the sources read.

    A view, not a table: the files are scanned again by each query over it (cleaning makes two), so
    the raw history is never materialised in memory. A SQL source is first copied into DuckDB in chunks.
    """
    if cfg.sql is not None:
        name, rows = copy_query(con, cfg.sql, "sql_rows")
        sources = [(name, con.table("sql_rows"), SourceFile(name, "sql", rows, 0))]
    else:
        sources = []
        for path in expand_sources(cfg.source):
            fmt = "parquet" if _suffix(path) in PARQUET_SUFFIXES else "csv"
            sources.append((str(path), _relation(con, path, cfg), SourceFile(str(path), fmt, 0, path.stat().st_size)))
    selects, infos, first_columns = [], [], None
    for name, rel, info in sources:
        if first_columns is not None and set(rel.columns) != first_columns[1]:
            _check_same_mapped_columns(rel, name, cfg, first_columns)
        first_columns = first_columns or (name, set(rel.columns))
        exprs = _select_list(rel, name, cfg)
        rows = _check_parse(rel, name, cfg, exprs)
        infos.append(SourceFile(info.path, info.format, rows, info.bytes))
        alias = f"src{len(selects)}"
        rel.create_view(alias, replace=True)
        cols = ", ".join(f"{e} AS {quote_ident(c)}" for c, e in exprs.items())
        label = name.replace("'", "''")
        selects.append(f"SELECT {cols}, '{label}' AS source_file FROM {alias}")
    con.execute(f"CREATE OR REPLACE VIEW {table} AS " + " UNION ALL BY NAME ".join(selects))
    return infos


def _check_same_mapped_columns(
    rel: duckdb.DuckDBPyRelation, name: str, cfg: DataConfig, first: tuple[str, set[str]]
) -> None:
    """Files may differ in unmapped columns; a mapped column missing here but present in the first file is named."""
    for canon, src in cfg.columns.mapped().items():
        if src not in rel.columns and src in first[1]:
            raise InputError(
                f"columns disagree with {first[0]}: mapped column (data.columns.{canon}) is missing here "
                f"(this file has {list(rel.columns)})",
                file=name,
                column=src,
            )
