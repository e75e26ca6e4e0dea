"""Spreadsheet formulas in text cells made inert, column-wise (`outputs.neutralise_formulas` is the contract).

A text column is scanned once in Arrow (RE2) for cells that start with = + - @ tab or CR or hold a line break;
only those cells are rewritten. Columns whose cells mix text with other objects (numbers, dates) keep the
original per-cell code, `neutralise_mixed`, so every kind of value behaves exactly as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segment.pipeline.csv_write import cells_containing, cells_starting_with

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
RISKY = r"^[=+\-@\t\r]"  # starts with one of FORMULA_PREFIXES
BREAK = r"[\r\n]"
NO_TEXT = frozenset(  # `infer_dtype` kinds of object columns without a single str cell: nothing to change
    {"empty", "date", "datetime", "datetime64", "time", "timedelta", "timedelta64", "period", "interval"}
    | {"integer", "floating", "mixed-integer-float", "decimal", "complex", "boolean", "bytes"}
)


def is_text_column(column: pd.Series) -> bool:
    """The columns `neutralise_formulas` looks at: object dtype or a string dtype."""
    return column.dtype == object or pd.api.types.is_string_dtype(column)


def neutralise_mixed(text: pd.Series) -> pd.Series | None:
    """The per-cell rule (a str cell: prefixed with `'` when risky, CR/LF to spaces); None when nothing changes."""
    is_text = text.map(lambda v: isinstance(v, str))
    risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
    breaks = text.map(lambda v: isinstance(v, str) and ("\r" in v or "\n" in v))
    if not (risky.any() or breaks.any()):
        return None
    fixed = text.where(~risky, "'" + text.astype(str))
    return fixed.where(~(breaks & is_text), fixed.astype(str).str.replace(BREAK, " ", regex=True))


def _fixed(cells: pa.Array) -> list[str]:
    """The rule on flagged cells (all str): `'` before a risky one, then every CR and LF a space."""
    cells = cells.cast(pa.large_string())
    quote, empty = pa.scalar("'", pa.large_string()), pa.scalar("", pa.large_string())
    cells = pc.if_else(pc.match_substring_regex(cells, RISKY), pc.binary_join_element_wise(quote, cells, empty), cells)
    return pc.replace_substring_regex(cells, BREAK, " ").to_pylist()


def neutralise_column(column: pd.Series) -> pd.Series | None:
    """`neutralise_mixed` of one text column, rewriting only flagged cells; None when nothing changes."""
    values = None
    kind = pd.api.types.infer_dtype(column, skipna=True) if column.dtype == object else None
    if isinstance(column.dtype, pd.StringDtype):
        text = pa.array(column.array)
        text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    elif kind in NO_TEXT:
        return None
    elif kind == "string":
        values = column.to_numpy()
        try:
            text = pa.array(values, type=pa.large_string(), mask=pd.isna(values))  # str subclasses: their text
        except UnicodeError:  # a lone surrogate: the per-cell rule, and the CSV writer raises as it did
            return neutralise_mixed(column)
    else:
        return neutralise_mixed(column)
    text = text.cast(pa.large_string())
    where = np.flatnonzero(cells_starting_with(text, "".join(FORMULA_PREFIXES)) | cells_containing(text, "\r\n"))
    if not len(where):
        return None
    new = _fixed(text.take(pa.array(where)))
    if values is None:  # a string dtype keeps its dtype and missing values
        out = column.copy()
        out.iloc[where] = new
        return out
    out_values = values.copy()
    out_values[where] = new
    return pd.Series(out_values, index=column.index, name=column.name, dtype=object)
