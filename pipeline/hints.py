"""Hints for the commonest own-data mistakes: a wrong delimiter, a missing date format, a decimal comma.

Pure functions over what the loader already has in hand (the header, a few failing values); each returns
the sentence to append to the error, or "" when it has nothing useful to say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

DELIMITERS = {";": "';'", "\t": "'\\t'", "|": "'|'"}

# Day-first forms are tried before month-first: a value that fits both (01/02/2011) is read day-first, as
# most non-US exports write it, and the hint says so.
DATE_FORMATS = (
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d/%m/%y %H:%M",
    "%d/%m/%y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",
)

DECIMAL_COMMA = re.compile(r"^\s*-?[0-9.\s]*[0-9],[0-9]+\s*$")


def delimiter_hint(columns: Sequence[str]) -> str:
    """Column names holding `;`, a tab or `|` (at least one per column): the file was split on the wrong delimiter.

    Usually it is read as one column; with decimal commas (`2,55`) DuckDB may split on those instead and
    see two or three columns, so the rule counts the candidate across all names, not in one.
    """
    if not columns:
        return ""
    counts = {d: sum(str(c).count(d) for c in columns) for d in DELIMITERS}
    found = max(counts, key=counts.get)
    if counts[found] < len(columns):
        return ""
    shape = "one column" if len(columns) == 1 else f"{len(columns)} columns"
    return f"; the file was read as {shape}: set data.csv.delimiter to {DELIMITERS[found]}"


def date_format(values: Sequence[str]) -> str | None:
    """The first common format (day-first before month-first) that parses every value, if any."""
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not texts:
        return None
    for fmt in DATE_FORMATS:
        try:
            for t in texts:
                datetime.strptime(t, fmt)
        except ValueError:
            continue
        return fmt
    return None


def timestamp_hint(values: Sequence[str], configured: str | None) -> str:
    """Text timestamps that fail to parse but fit a common pattern: say which `data.timestamp_format` to set."""
    fmt = date_format(values)
    if fmt is None or fmt == configured:
        return ""
    note = " (read day-first; use %m/%d for month-first dates)" if fmt.startswith("%d") else ""
    return f"; they look like {fmt!r}: set data.timestamp_format to {fmt!r}{note}"


def decimal_hint(values: Sequence[str], decimal: str) -> str:
    """Numbers written with a decimal comma (2,55 or 1.234,50) while data.csv.decimal is '.'."""
    texts = [str(v) for v in values if v is not None]
    if decimal != "." or not texts or not all(DECIMAL_COMMA.match(t) for t in texts):
        return ""
    return "; they use a decimal comma: set data.csv.decimal to ','"
