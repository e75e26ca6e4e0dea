"""CSV files byte-identical to pandas `DataFrame.to_csv(path, index=False)`, built column-wise in Arrow.

pandas hands every row to Python's csv module (about 8 us a row of the exports: 75 s for the 9M rows of a
3M-customer score). Here each column becomes its CSV field text once, with pandas' own conversions (floats
through numpy `astype(str)` of their distinct values, objects through `str`, missing values empty), quoted
as the csv module quotes (`QUOTED`, probed from the module itself), joined into one line per row; a file is
then its header and a `take` of its rows' lines, written as one buffer (two files at a time). A column of a
type not handled here (datetimes, categoricals, nullable numbers) makes `lines` return None: pandas writes.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

WRITERS = min(2, os.cpu_count() or 1)  # threads writing files
TEXT = pa.large_string()  # 64-bit offsets: one column of millions of lines can pass 2 GiB


def _s(text: str) -> pa.Scalar:
    """A constant for the string kernels, which want every argument of the same string type."""
    return pa.scalar(text, TEXT)


def _writer(buffer: io.StringIO) -> csv.writer:  # type: ignore[valid-type]
    """The csv writer pandas builds for `to_csv` (pandas.io.formats.csvs.CSVFormatter.save)."""
    return csv.writer(buffer, lineterminator="\n", delimiter=",", quoting=csv.QUOTE_MINIMAL, quotechar='"')


def _quoted(char: str) -> bool:
    buffer = io.StringIO()
    _writer(buffer).writerow([f"a{char}b", ""])
    return buffer.getvalue().startswith('"')


QUOTED = "".join(c for c in map(chr, range(128)) if _quoted(c))  # 3.11: '\n', '"', ','; tests probe all others


def header(columns: pd.Index) -> bytes:
    """The header line pandas writes: the column labels through the same csv writer."""
    buffer = io.StringIO()
    _writer(buffer).writerow(list(columns))
    return buffer.getvalue().encode("utf-8")


def _bytes(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (len + 1) and the UTF-8 bytes of a string array, as numpy views (no copy)."""
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    buffers = text.buffers()
    if buffers[1] is None:  # an empty array may have no offsets buffer
        return np.zeros(1, dtype=width), np.zeros(0, np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=width)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def _any_of(values: np.ndarray, chars: str) -> np.ndarray:
    """Mask of the bytes equal to one of these ASCII characters (compares: faster than a lookup table)."""
    found = np.zeros(len(values), dtype=bool)
    for byte in chars.encode("ascii"):
        found |= values == byte
    return found


def cells_containing(text: pa.Array, chars: str) -> np.ndarray:
    """Mask of the non-null cells holding any of these ASCII characters (UTF-8: never inside another one)."""
    offsets, data = _bytes(text)
    hits = np.flatnonzero(_any_of(data[offsets[0] : offsets[-1]], chars)) + offsets[0]
    mask = np.zeros(len(text), dtype=bool)
    mask[np.searchsorted(offsets, hits, side="right") - 1] = True
    return mask & text.is_valid().to_numpy(zero_copy_only=False) if text.null_count else mask


def cells_starting_with(text: pa.Array, chars: str) -> np.ndarray:
    """Mask of the non-null cells whose first character is one of these ASCII characters."""
    offsets, data = _bytes(text)
    mask = np.diff(offsets) > 0
    mask[mask] = _any_of(data[offsets[:-1][mask]], chars)
    return mask & text.is_valid().to_numpy(zero_copy_only=False) if text.null_count else mask


def _quote(text: pa.Array) -> pa.Array:
    """Missing cells empty; a cell holding a character the csv module quotes is quoted, its quotes doubled."""
    text = pc.fill_null(text.cast(TEXT), "")
    needs = cells_containing(text, QUOTED)
    if not needs.any():
        return text
    quoted = pc.binary_join_element_wise(_s('"'), pc.replace_substring(text, '"', '""'), _s('"'), _s(""))
    return pc.if_else(pa.array(needs), quoted, text)


def _by_distinct(codes: np.ndarray, texts: list[str] | np.ndarray) -> pa.Array:
    """texts[codes] as Arrow strings; code -1 (missing) is the empty cell."""
    table = pa.array([*list(texts), ""], type=TEXT)
    return table.take(pa.array(np.where(codes < 0, len(table) - 1, codes)))


def _floats(values: np.ndarray) -> pa.Array:
    """Float cells as pandas writes them: numpy `astype(str)` (get_values_for_csv), NaN empty; each bit pattern once."""
    bits = values.view(f"i{values.dtype.itemsize}")  # exact: -0.0 and 0.0 stay apart
    codes, distinct = pd.factorize(bits)
    floats = np.asarray(distinct).view(values.dtype)
    texts = floats.astype(str).astype(object)
    texts[np.isnan(floats)] = ""
    return _by_distinct(codes, texts)


def _objects(values: np.ndarray) -> pa.Array:
    """Object cells: pandas hands them to the csv module, which writes a str as it is and anything else as str(v)."""
    missing = pd.isna(values)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "empty":  # missing values only
        return _quote(pa.nulls(len(values), TEXT))
    if kind == "string":  # str (or a subclass: its text) and missing values only
        return _quote(pa.array(values, type=TEXT, mask=missing))
    try:
        codes, distinct = pd.factorize(values)
    except TypeError:  # unhashable cells: each one through str below
        codes, distinct = None, None
    if distinct is not None and all(type(v) is str or type(v) is date for v in distinct):  # equal ones print alike
        codes[missing] = -1
        return _quote(_by_distinct(codes, [str(v) for v in distinct]))
    texts = [v if isinstance(v, str) else str(v) for v in np.where(missing, "", values)]
    return _quote(pa.array(texts, type=TEXT))


def _field(column: pd.Series) -> pa.Array | None:
    """One column's CSV cells as pandas writes them, or None for a type this module does not render."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype):  # pandas' `str`/`string`: the cell text, missing empty
        text = pa.array(column.array)
        return _quote(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
    if not isinstance(dtype, np.dtype):
        return None
    values = column.to_numpy()
    if dtype.kind == "f":
        return _floats(values)
    if dtype.kind in "iu":  # pandas: Python ints, written as str(int)
        return pa.array(values).cast(TEXT)
    if dtype.kind == "b":  # Python bools: True / False
        return pc.if_else(pa.array(values), _s("True"), _s("False"))
    if dtype.kind == "O":
        return _objects(values)
    return None


def lines(frame: pd.DataFrame) -> pa.Array | None:
    """Each row of `frame` as its CSV line ending in a newline, or None if pandas must write this frame."""
    labels = frame.columns
    if labels.nlevels != 1 or len(labels) == 0 or not labels.is_unique or not all(type(c) is str for c in labels):
        return None  # pandas formats other labels (numbers, missing) with its own rules
    try:
        cells = [_field(frame.iloc[:, i]) for i in range(frame.shape[1])]
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: let pandas raise its own error
        return None
    if any(c is None for c in cells):
        return None
    if len(cells) == 1:  # the csv module quotes a row that is one empty cell
        cells[0] = pc.if_else(pc.equal(cells[0], _s("")), _s('""'), cells[0])
    cells[-1] = pc.binary_join_element_wise(cells[-1], _s("\n"), _s(""))
    return pc.binary_join_element_wise(*cells, _s(",")) if len(cells) > 1 else cells[0]


def write(path: Path, head: bytes, rows: pa.Array) -> None:
    """Write the header then the rows' lines, one buffer per Arrow chunk (no per-row Python work)."""
    chunks = rows.chunks if isinstance(rows, pa.ChunkedArray) else [rows]
    with open(path, "wb") as f:
        f.write(head)
        for chunk in chunks:
            offsets, data = _bytes(chunk)
            f.write(memoryview(data)[offsets[0] : offsets[-1]])


def write_groups(frame: pd.DataFrame, groups: dict[Path, np.ndarray], writers: int = WRITERS) -> None:
    """`frame.iloc[rows].to_csv(path, index=False)` for each path and rows, each row rendered once.

    Files are written by `writers` threads: Arrow's `take` and the file writes release the GIL.
    """
    rendered = lines(frame)
    if rendered is None:
        for path, rows in groups.items():
            frame.iloc[rows].to_csv(path, index=False)
        return
    head = header(frame.columns)

    def one(path: Path) -> None:
        write(path, head, rendered.take(pa.array(groups[path])))

    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(one, groups))  # list(): an error in any file is raised here


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """`frame.to_csv(path, index=False)`, fast when every column is of a type `lines` renders."""
    rendered = lines(frame)
    if rendered is None:
        frame.to_csv(path, index=False)
    else:
        write(path, header(frame.columns), rendered)
