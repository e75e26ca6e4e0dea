"""Issue 20: the fast CSV exports write the same bytes as pandas `to_csv`, and neutralise formulas as before.

The reference is the code before the change, kept here verbatim (`old_*`): per-cell `Series.map` for formulas,
`DataFrame.to_csv` per segment. Frames are realistic segment-table rows through `exports.export_rows`, plus
every hard value: formula prefixes, line breaks, quotes, commas, NaN/None, non-string objects, non-ASCII.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segment.pipeline import csv_write, exports, outputs, publication
from segment.pipeline.score import score
from segment.schema import CUSTOMER_ID, EXPORT_COLUMNS, SCHEME_COLUMNS
from tests.test_scoring import _config_beside

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def old_neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """`outputs.neutralise_formulas` before issue 20, verbatim."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            is_text = text.map(lambda v: isinstance(v, str))
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
            breaks = text.map(lambda v: isinstance(v, str) and ("\r" in v or "\n" in v))
            if risky.any() or breaks.any():
                fixed = text.where(~risky, "'" + text.astype(str))
                fixed = fixed.where(~(breaks & is_text), fixed.astype(str).str.replace(r"[\r\n]", " ", regex=True))
                out[col] = fixed
    return out


def old_write_export_files(table, attributes, folder: Path, lists=None) -> int:
    """`outputs.write_export_files` before issue 20, verbatim but for the reference neutralise."""

    def with_attributes(frame: pd.DataFrame) -> pd.DataFrame:
        if attributes is not None and len(attributes.columns) > 1:
            frame = frame.merge(attributes, on=CUSTOMER_ID, how="left")
        return old_neutralise_formulas(frame)

    rows = with_attributes(table[[c for c in EXPORT_COLUMNS if c in table]])
    files = 0
    for scheme in SCHEME_COLUMNS:
        for name, part in rows.groupby(scheme, sort=True):
            path = outputs.inside(folder, scheme, f"{outputs.slug(str(name))}.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            part.to_csv(path, index=False)
            files += 1
    for file_name, extra in (lists or {}).items():
        path = outputs.inside(folder, file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with_attributes(extra).to_csv(path, index=False)
        files += 1
    return files


HARD_TEXTS = [
    "",
    " ",
    "=1+2",
    '=HYPERLINK("http://x","y")',
    "+44 7700 900123",
    "-2",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "a\r\nb",
    "a\nb",
    "x\r",
    'say "hi"',
    "a,b",
    '"',
    "'already",
    "Zoë Ångström",
    "日本語",
    "😀 emoji",
    "\u2028sep",
    "back\\slash",
    "nul\x00byte",
]


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _segment_table(n: int, seed: int, text_dtype: object) -> pd.DataFrame:
    """Rows with the segment table's columns and value ranges (rounded later by export_rows), some hard ids."""
    rng = np.random.default_rng(seed)
    ids = [f"{12000 + i}" for i in range(n)]
    ids[: len(HARD_TEXTS) - 1] = [f"{t}#{i}" for i, t in enumerate(HARD_TEXTS[1:])]  # distinct, every hard text
    churn = rng.random(n)
    churn[:4] = [0.00004, 0.99996, 0.5, 1e-9]  # round to 0.0, 1.0, 0.5, 0.0
    monetary = np.round(rng.lognormal(6, 1.5, n), 4) * rng.choice([1, 1, 1, -1], n)
    monetary[:5] = [-0.001, 0.0, 1e16, 123456789.125, 0.005]
    revenue = rng.lognormal(4, 2, n)
    revenue[rng.random(n) < 0.1] = np.nan
    tiers = pd.Series(rng.choice(["high", "medium", "low"], n), dtype=object)
    tiers[rng.random(n) < 0.1] = None
    next_dates = pd.Series([date(2012, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 400, n)], dtype=object)
    next_dates[rng.random(n) < 0.2] = None
    rfm = rng.choice(["Champions", "Can't Lose Them", "At Risk", "at-risk", "Zoë's"], n)
    text = {
        CUSTOMER_ID: ids,
        "rfm_segment": rfm,
        "lifecycle_stage": rng.choice(["new_active", "loyal_at_risk", "one_time_lapsed"], n),
        "cluster_name": rng.choice(["High-value, recent", 'The "big" ones', "=cluster"], n),
        "churn_risk": rng.choice(["low", "medium", "high"], n),
        "model_versions": ["churn:1,propensity:1"] * n,
        "run_id": ["4ad4b3a4f2be42039e744eb873757755"] * n,
    }
    frame = pd.DataFrame(
        {
            "score_date": [date(2011, 12, 9)] * n,
            "recency_days": rng.integers(0, 700, n).astype(float),
            "frequency": rng.integers(1, 50, n).astype(float),
            "monetary": monetary,
            "r_score": rng.integers(1, 6, n),
            "f_score": rng.integers(1, 6, n),
            "m_score": rng.integers(1, 6, n),
            "cluster_id": rng.integers(0, 4, n),
            "churn_probability": churn,
            "purchase_probability": 1 - churn,
            "propensity_decile": rng.integers(1, 11, n),
            "expected_revenue": revenue,
            "value_tier": tiers,
            "expected_next_order_date": next_dates,
            "expected_orders": rng.random(n) * 3,
        }
    )
    for col, values in text.items():
        frame[col] = pd.Series(values, dtype=text_dtype)
    frame.loc[7, "rfm_segment"] = None  # a customer without a segment is in no file of that scheme
    return frame


def _attributes(table: pd.DataFrame, text_dtype: object) -> pd.DataFrame:
    n = len(table)
    phones = pd.Series([f"+44 7700 {i:06d}" for i in range(n)], dtype=object)
    emails = pd.Series([f"user{i}@example.com" for i in range(n)], dtype=object)
    emails[::11] = None
    emails[1] = "=cmd|'/c calc'!A0"
    emails[2] = "line\nbreak@example.com"
    ids = table[CUSTOMER_ID].astype(object)
    return pd.DataFrame({CUSTOMER_ID: ids, "email": emails, "phone": phones}).astype(
        {CUSTOMER_ID: text_dtype, "email": text_dtype, "phone": text_dtype}
    )


@pytest.mark.parametrize("text_dtype", [object, "str", "string"])
def test_export_folders_are_byte_identical_to_pandas(tmp_path, text_dtype):
    table = _segment_table(3000, seed=1, text_dtype=text_dtype)
    extras = pd.DataFrame({CUSTOMER_ID: table[CUSTOMER_ID], "country": ["United Kingdom", "EIRE", None] * 1000})
    rows = exports.export_rows(table, extras.astype({"country": object}))
    previous = table.assign(lifecycle_stage=table["lifecycle_stage"].str.replace("at_risk", "active"))
    lists = {
        exports.MOVED_FILE: exports.moved_to_at_risk(rows, previous),
        "empty.csv": exports.moved_to_at_risk(rows, None),
    }
    if text_dtype == "string":  # the old code raised on an empty "string" column (see the neutralise test)
        del lists["empty.csv"]
    assert len(lists[exports.MOVED_FILE]) > 100
    attributes = _attributes(table, text_dtype)
    old, new = tmp_path / "old", tmp_path / "new"
    assert outputs.write_export_files(rows, attributes, new, lists) == old_write_export_files(
        rows, attributes, old, lists
    )
    before, after = _folder_bytes(old), _folder_bytes(new)
    assert before.keys() == after.keys() and len(before) == 10 + len(lists)  # "At Risk", "at-risk": one file
    assert before == after
    text = after["rfm_segment/champions.csv"].decode()
    assert "'+44 7700" in text and '"High-value, recent"' in text  # the hard cases are really in the files
    assert outputs.write_export_files(rows, None, tmp_path / "none") == old_write_export_files(
        rows, None, tmp_path / "none-old"
    )
    assert _folder_bytes(tmp_path / "none") == _folder_bytes(tmp_path / "none-old")


def _frame_of_every_kind(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    floats = rng.normal(0, 1e6, n)
    floats[:14] = [np.nan, -0.0, 0.0, 5e-324, 1e16, 1e-5, 0.1 + 0.2, np.inf, -np.inf, 1e22, 123.0, -1.5, 0.0001, 2.5e-7]
    hard = (HARD_TEXTS * 3)[:n]
    mixed = [1, 1.0, True, "1", None, np.nan, date(2020, 1, 2), datetime(2020, 1, 2, 3, 4, 5), b"x", pd.NaT, "=1"]
    return pd.DataFrame(
        {
            "text_str": pd.Series(hard, dtype="str").where(rng.random(n) > 0.2),
            "text_string": pd.Series(hard, dtype="string").where(rng.random(n) > 0.2),
            "text_object": pd.Series(hard, dtype=object).where(rng.random(n) > 0.2, None),
            "floats": floats,
            "floats32": floats.astype(np.float32),
            "ints": rng.integers(-(2**62), 2**62, n),
            "uints": np.full(n, 2**64 - 1, dtype=np.uint64),
            "bools": rng.random(n) > 0.5,
            "dates": pd.Series([date(2011, 1, 1) + timedelta(days=i) for i in range(n)], dtype=object).where(
                rng.random(n) > 0.3, None
            ),
            "mixed": pd.Series((mixed * n)[:n], dtype=object),
            "np_str": pd.Series([np.str_(f"s{i}") for i in range(n)], dtype=object),
            "all_none": pd.Series([None] * n, dtype=object),
        }
    )


def _both_ways(frame: pd.DataFrame, tmp_path: Path) -> tuple[bytes, bytes]:
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    csv_write.write_frame(frame, tmp_path / "fast.csv")
    return (tmp_path / "pandas.csv").read_bytes(), (tmp_path / "fast.csv").read_bytes()


def test_the_fast_writer_writes_every_kind_of_value_as_pandas_does(tmp_path):
    frame = _frame_of_every_kind()
    assert csv_write.lines(frame) is not None  # every one of these columns takes the fast path
    expected, written = _both_ways(frame, tmp_path)
    assert written == expected
    assert b'"a,b"' in written and b'"say ""hi"""' in written and b"\rx" in written  # quoting as csv does
    for col in frame.columns:  # one column alone: a row that is one empty cell is written as ""
        assert _both_ways(frame[[col]], tmp_path)[1] == _both_ways(frame[[col]], tmp_path)[0], col
    assert _both_ways(frame.iloc[:0], tmp_path)[1] == _both_ways(frame.iloc[:0], tmp_path)[0]  # header only


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.date_range("2020-01-01", periods=4, freq="D")),  # pandas' own datetime formatting
        pd.Series(["a", "b", None, "a"], dtype="category"),
        pd.Series([1, None, 3, 4], dtype="Int64"),
    ],
)
def test_types_the_fast_writer_does_not_render_go_to_pandas(tmp_path, column):
    frame = pd.DataFrame({"id": ["1", "2", "3", "4"], "x": column})
    assert csv_write.lines(frame) is None
    expected, written = _both_ways(frame, tmp_path)
    assert written == expected
    assert csv_write.lines(pd.DataFrame({1: ["a"]})) is None  # a label pandas formats itself


def test_quoted_characters_are_the_ones_the_csv_module_quotes():
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    quoted = set()
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([f"a{chr(code)}b", ""])
        if buffer.getvalue().startswith('"'):
            quoted.add(chr(code))
    assert quoted == set(csv_write.QUOTED) and {",", '"', "\n"} <= quoted


def _neutralise_cases() -> pd.DataFrame:
    n = len(HARD_TEXTS)
    mixed = [1, 2.5, True, None, np.nan, date(2020, 1, 1), b"=x", "=1", "a\nb", "ok", "+1", pd.NA] * 2
    return pd.DataFrame(
        {
            "object": pd.Series(HARD_TEXTS, dtype=object),
            "object_na": pd.Series(HARD_TEXTS[:-2] + [None, np.nan], dtype=object),
            "str": pd.Series(HARD_TEXTS[:-1] + [None], dtype="str"),
            "string": pd.Series(HARD_TEXTS[:-1] + [None], dtype="string"),
            "np_str": pd.Series([np.str_(t) for t in HARD_TEXTS], dtype=object),
            "mixed": pd.Series(mixed[:n], dtype=object),
            "safe": pd.Series(["a", "b c", None] * (n // 3) + ["d"] * (n % 3), dtype=object),
            "numbers": np.arange(n) - 5.5,
            "ints": np.arange(n) - 3,
            "bools": np.arange(n) % 2 == 0,
            "none": pd.Series([None] * n, dtype=object),
        }
    )


def test_neutralise_formulas_matches_the_per_cell_rule():
    frame = _neutralise_cases()
    before = frame.copy()
    new = outputs.neutralise_formulas(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is left alone
    pd.testing.assert_frame_equal(new, old_neutralise_formulas(frame))
    assert new.loc[2, "object"] == "'=1+2" and new.loc[9, "str"] == "a  b" and new.loc[8, "string"] == "' x"
    assert new.loc[0, "mixed"] == 1 and new.loc[7, "mixed"] == "'=1"
    for col in frame.columns:  # column by column too: a frame of one kind only
        pd.testing.assert_frame_equal(outputs.neutralise_formulas(frame[[col]]), old_neutralise_formulas(frame[[col]]))
    empty = frame.iloc[:0]  # no rows: nothing to change (the old code raised on an empty "string" column)
    pd.testing.assert_frame_equal(outputs.neutralise_formulas(empty), empty)
    with pytest.raises(TypeError):
        old_neutralise_formulas(empty[["string"]])


def test_a_real_score_writes_the_same_export_files_as_before(trained, tmp_path, monkeypatch):
    calls = []
    real = publication.write_export_files

    def recording(table, attributes, folder, lists=None):
        calls.append((table, attributes, lists))
        return real(table, attributes, folder, lists)

    monkeypatch.setattr(publication, "write_export_files", recording)
    cfg, _ = _config_beside(trained, tmp_path / "run")
    result = score(cfg)
    (table, attributes, lists) = calls[0]
    files = old_write_export_files(table, attributes, tmp_path / "old", lists)
    published = _folder_bytes(result.published.exports)
    assert len(published) == files > 10 and len(table) > 1000
    assert published == _folder_bytes(tmp_path / "old")


def test_a_column_pandas_must_format_sends_the_whole_export_to_pandas(tmp_path):
    table = _segment_table(500, seed=2, text_dtype="str")
    rows = exports.export_rows(table)
    attributes = _attributes(table, "str").assign(signed_up=pd.date_range("2020-01-01", periods=500, freq="37h"))
    assert csv_write.lines(outputs.neutralise_formulas(rows.merge(attributes, on=CUSTOMER_ID))) is None
    assert outputs.write_export_files(rows, attributes, tmp_path / "new") == old_write_export_files(
        rows, attributes, tmp_path / "old"
    )
    assert _folder_bytes(tmp_path / "new") == _folder_bytes(tmp_path / "old")
    assert re.search(rb",20\d\d-\d\d-\d\d \d\d:00:00\n", _folder_bytes(tmp_path / "new")["rfm_segment/champions.csv"])


@pytest.mark.parametrize("cell", ["a\ud800", "=\ud800"])
@pytest.mark.parametrize("hard_ids", [True, False])
def test_text_that_is_not_utf8_fails_as_before(tmp_path, cell, hard_ids):
    rows = exports.export_rows(_segment_table(50, seed=4, text_dtype=object))
    if not hard_ids:
        rows[CUSTOMER_ID] = pd.Series([f"C{i}" for i in range(len(rows))], index=rows.index, dtype=object)
    rows.loc[3, CUSTOMER_ID] = cell  # a lone surrogate: no UTF-8 form, so no file can hold it
    outcomes = []
    for neutralise in (old_neutralise_formulas, outputs.neutralise_formulas):
        try:
            outcomes.append(neutralise(rows))
        except UnicodeEncodeError:  # pandas' `astype(str)` of a column with a risky cell encodes it
            outcomes.append(None)
    if outcomes[0] is None:
        assert outcomes[1] is None
    else:
        pd.testing.assert_frame_equal(outcomes[1], outcomes[0])
    for write, folder in ((old_write_export_files, "old"), (outputs.write_export_files, "new")):
        with pytest.raises(UnicodeEncodeError):
            write(rows, None, tmp_path / folder)
