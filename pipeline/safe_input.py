"""Input checks that keep row contents out of every message.

DuckDB's CSV errors quote the offending line ("Original Line: ...", e-mails and phone numbers included) and
database drivers quote values and parameters. Our messages say where (file, line, column) and what went
wrong, never what the line held: a malformed CSV is diagnosed here with Python's csv module, and driver
messages are redacted before they reach a log.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

from segment.errors import ConfigError, InputError

MEMORY_ENV = "SEGMENT_DUCKDB_MEMORY"
_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.I)


def memory_setting() -> str | None:
    """`SEGMENT_DUCKDB_MEMORY` when set, checked to be a size ("1.5GiB", "2048MB") before it reaches SQL."""
    value = os.environ.get(MEMORY_ENV, "").strip()
    if not value:
        return None
    if not _SIZE.fullmatch(value):
        raise ConfigError(
            f"{MEMORY_ENV} must be a size such as 2048MB or 1.5GiB (a number and KB, MB, GB, TB, KiB, MiB, GiB "
            "or TiB); it is not used as given"
        )
    return value


# DuckDB's parts of a CSV error that describe the problem without quoting data
_DUCKDB_PROBLEMS = (
    (re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"), "has {1} fields, the header has {0}"),
    (re.compile(r"unterminated quote", re.I), "opens a quote that is never closed"),
    (re.compile(r"Maximum line size", re.I), "is longer than DuckDB's maximum line size"),
    (re.compile(r"invalid unicode|not utf-8", re.I), "is not valid text in the configured encoding"),
)
_LINE = re.compile(r"CSV Error on Line: (\d+)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\([^()]*\)=\([^()]*\)")
_LONG_NUMBER = re.compile(r"\d[\d.,:-]{2,}")
_PARAMS = re.compile(r"\[(SQL|parameters):.*", re.S)


def _open_text(path: Path, encoding: str) -> io.TextIOBase:
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding=enc, newline="", errors="replace")
    return open(path, encoding=enc, newline="", errors="replace")


def _reader(handle: io.TextIOBase, delimiter: str, quote: str) -> Iterator[list[str]]:
    if not quote:
        return csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE, strict=True)
    return csv.reader(handle, delimiter=delimiter, quotechar=quote, doublequote=True, strict=True)


def python_can_parse(delimiter: str, quote: str) -> bool:
    """Whether Python's csv module takes this dialect (one-character delimiter and quote)."""
    return len(delimiter) == 1 and len(quote) <= 1


def csv_header(path: Path, encoding: str, delimiter: str, quote: str, label: str) -> list[str]:
    """The header row's column names; duplicate or empty names are an error (DuckDB would rename them silently)."""
    with _open_text(path, encoding) as handle:
        try:
            header = next(_reader(handle, delimiter, quote), None)
        except csv.Error:
            raise InputError("line 1 (the header) cannot be parsed as CSV", file=label) from None
    if not header:
        raise InputError("has no header row", file=label)
    header = [h or f"column{i}" for i, h in enumerate(header)]  # DuckDB's name for an unnamed column (an index)
    names = [h.strip() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"the header names column(s) {dupes} more than once: rename them", file=label)
    return header


def diagnose_csv(path: Path, encoding: str, delimiter: str, quote: str) -> tuple[int, str] | None:
    """(line number, problem) of the first line that breaks the CSV structure, or None; never the line's text."""
    with _open_text(path, encoding) as handle:
        reader = _reader(handle, delimiter, quote)
        try:
            header = next(reader, None)
            if header is None:
                return None
            start = reader.line_num
            for row in reader:
                if row and len(row) != len(header):  # a row starts on the line after the previous one ends
                    return start + 1, f"has {len(row)} fields, the header has {len(header)}"
                start = reader.line_num
        except csv.Error as e:
            text = str(e)
            if "end of data" in text or "EOF" in text:
                problem = "opens a quote that is never closed"
            elif "expected after" in text:
                problem = f"has text after a closing quote ({text.split(' expected')[0]} expected)"
            else:
                problem = "cannot be parsed as CSV"
            return start + 1, problem
    return None


def csv_read_error(path: Path, label: str, encoding: str, delimiter: str, quote: str, engine_text: str) -> InputError:
    """An InputError for a CSV the engine could not read: file, line number and problem, no row contents."""
    found = diagnose_csv(path, encoding, delimiter, quote)
    if found is None:
        line = _LINE.search(engine_text)
        problem = next((t.format(*m.groups()) for rx, t in _DUCKDB_PROBLEMS if (m := rx.search(engine_text))), None)
        if line and problem:
            found = (int(line.group(1)), problem)
    if found is None:
        return InputError(
            "cannot be read as CSV with the configured delimiter, quote and encoding (data.csv); "
            "the engine's message is withheld because it may quote the data",
            file=label,
        )
    line, problem = found
    return InputError(
        f"line {line} {problem} (delimiter {delimiter!r}, quote {quote!r}): fix or remove that line", file=label
    )


def redact(text: str, limit: int = 300) -> str:
    """The first line of a driver/engine message with quoted values, key=value details, e-mails and numbers hidden."""
    text = _PARAMS.sub("", str(text)).strip()
    first = text.splitlines()[0] if text else ""
    first = _EMAIL.sub("<hidden>", first)
    first = _QUOTED.sub("<hidden>", first)
    first = _LONG_NUMBER.sub("<n>", first)
    return first[:limit]
