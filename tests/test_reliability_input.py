"""Reliability (issue 16): bad input gives our message (file, line, column, problem) and never row contents."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segment.errors import ConfigError, InputError
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare
from segment.pipeline.safe_input import MEMORY_ENV, redact
from tests.conftest import RETAIL_COLUMNS, write_config

HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country,Email,Phone\n"


def _line(i: int, email: str = "jane.doe@example.com", phone: str = "+44 7700 900123") -> str:
    day = f"2011-01-{1 + i % 28:02d} 10:00"
    return f"{1000 + i},P{i % 7},Mug,2,{day},3.5,{12000 + i % 50},United Kingdom,{email},{phone}\n"


def _csv(folder: Path, bad: str, at: int, total: int = 30_050) -> Path:
    """A CSV whose line `at` (1-based, header = line 1) is `bad`; DuckDB's sniffer sees only the first ~20k lines."""
    path = folder / "orders.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(2, total + 1):
            f.write(bad if i == at else _line(i))
    return path


def _config(folder: Path, source: str, **data) -> Path:
    return write_config(folder, {"source": [source], "columns": RETAIL_COLUMNS, **data})


def _validate(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, "-m", "segment.pipeline.cli", "validate", "--config", str(config), "--quiet"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


BAD_LINES = {
    "extra fields": (_line(0, "bob.secret@example.org", "+1 555 0100").rstrip("\n") + ",oops,more\n", "has 12 fields"),
    "unterminated quote": ('9,P1,"Mug,2,2011-01-02 10:00,3.5,12001,UK,bob.secret@example.org,+1 555 0100\n', "quote"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
@pytest.mark.parametrize("at", [5, 30_002])  # inside the engine's sample (sniffing fails) and past it (scan fails)
def test_a_malformed_csv_line_is_named_by_number_and_its_contents_never_reach_stderr(tmp_path, case, at):
    bad, expected = BAD_LINES[case]
    path = _csv(tmp_path, bad, at)
    proc = _validate(_config(tmp_path, str(path)))
    assert proc.returncode == 2, proc.stderr
    assert f"line {at}" in proc.stderr and expected in proc.stderr and str(path) in proc.stderr
    for secret in ("bob.secret@example.org", "555 0100", "jane.doe@example.com", "Original Line"):
        assert secret not in proc.stderr + proc.stdout


def test_a_well_formed_large_csv_still_loads_every_line(tmp_path):
    path = _csv(tmp_path, _line(3), at=3, total=25_001)
    report = prepare(connect(), load_config(_config(tmp_path, str(path))).data)
    assert report.rows_in == 25_000


def test_duplicate_csv_column_names_are_an_error(tmp_path):
    (tmp_path / "orders.csv").write_text(HEADER.replace("Description", "Price") + _line(2))
    with pytest.raises(InputError, match=r"\['Price'\] more than once") as e:
        prepare(connect(), load_config(_config(tmp_path, str(tmp_path / "orders.csv"))).data)
    assert e.value.file == str(tmp_path / "orders.csv")


def test_duplicate_parquet_column_names_are_an_error(tmp_path):
    df = pd.read_csv(pd.io.common.StringIO(HEADER + _line(2)))
    arrays = [pa.array(df[c]) for c in df.columns] + [pa.array(df["Price"])]
    pq.write_table(pa.Table.from_arrays(arrays, names=[*df.columns, "Price"]), tmp_path / "orders.parquet")
    with pytest.raises(InputError, match=r"\['Price'\] more than once"):
        prepare(connect(), load_config(_config(tmp_path, str(tmp_path / "orders.parquet"))).data)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_nan_inf_and_absurd_amounts_are_dropped_and_counted_under_their_own_rule(tmp_path, fmt):
    rows = [_line(i) for i in range(2, 12)]
    bad = {2: ("3.5", "NaN"), 3: ("3.5", "inf"), 4: ("3.5", "-Infinity"), 5: ("3.5", "1e30"), 6: (",2,", ",1e13,")}
    for i, (old, new) in bad.items():
        rows[i] = rows[i].replace(old, new, 1)
    (tmp_path / "orders.csv").write_text(HEADER + "".join(rows))
    source = tmp_path / "orders.csv"
    if fmt == "parquet":  # typed doubles: NaN and inf arrive as numbers, without a text parse
        df = pd.read_csv(source, dtype={"Customer ID": str})
        assert df["Price"].dtype == float
        source = tmp_path / "orders.parquet"
        table = pa.Table.from_pandas(df, preserve_index=False)
        price = pa.array(df["Price"].to_numpy(), type=pa.float64(), from_pandas=False)  # NaN stays NaN, not null
        pq.write_table(table.set_column(table.column_names.index("Price"), "Price", price), source)
    con = connect()
    report = prepare(con, load_config(_config(tmp_path, str(source))).data)
    assert report.dropped["non_finite_or_huge_number"] == len(bad)
    assert report.rows_out == len(rows) - len(bad)
    worst = con.execute("SELECT max(abs(amount)) FROM lines").fetchall()[0][0]
    assert float(worst) == 7.0  # every kept line is 2 x 3.5


def test_a_nan_or_infinite_float_customer_id_is_a_missing_id_not_a_cast_error(tmp_path):
    df = pd.read_csv(pd.io.common.StringIO(HEADER + _line(2) + _line(3) + _line(4)))
    df["Customer ID"] = [12002.0, float("nan"), float("inf")]
    df.to_parquet(tmp_path / "orders.parquet", index=False)
    report = prepare(connect(), load_config(_config(tmp_path, str(tmp_path / "orders.parquet"))).data)
    assert report.dropped["missing_customer_id"] == 2 and report.rows_out == 1


def _times(tmp_path: Path, stamps: list[str], zone: str) -> list[pd.Timestamp]:
    rows = [_line(i).replace(f"2011-01-{1 + i % 28:02d} 10:00", s) for i, s in enumerate(stamps)]
    (tmp_path / "orders.csv").write_text(HEADER + "".join(rows))
    con = connect()
    prepare(con, load_config(_config(tmp_path, str(tmp_path / "orders.csv"), timezone=zone)).data)
    return [r[0] for r in con.execute('SELECT "timestamp" FROM lines ORDER BY order_id').fetchall()]


def test_time_zone_abbreviations_are_converted_from_the_table_not_dropped(tmp_path):
    stamps = ["2011-01-05 10:00 CET", "2011-07-05 10:00:00 CET", "2011-07-05T10:00EST", "2011-07-05 10:00 cest"]
    got = _times(tmp_path, stamps, "Europe/London")
    # by hand: CET = +01:00 always (the abbreviation, not the region), EST = -05:00; London is +00 / +01 (BST)
    assert [str(t) for t in got] == [
        "2011-01-05 09:00:00",
        "2011-07-05 10:00:00",
        "2011-07-05 16:00:00",
        "2011-07-05 09:00:00",
    ]


@pytest.mark.parametrize("stamp", ["2011-01-05 10:00 IST", "2011-01-05 10:00 XYZ"])
def test_an_ambiguous_or_unknown_abbreviation_is_refused_with_a_clear_error(tmp_path, stamp):
    with pytest.raises(InputError, match="time-zone abbreviation") as e:
        _times(tmp_path, ["2011-01-05 10:00 CET", stamp], "UTC")
    assert e.value.column == "InvoiceDate" and e.value.examples == [stamp]


@pytest.mark.parametrize("value", ["1GB'; COPY (SELECT 1) TO 'pwned.csv'; --", "lots", "1.5 XB"])
def test_a_memory_setting_that_is_not_a_size_never_reaches_sql(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(MEMORY_ENV, value)
    with pytest.raises(ConfigError, match=MEMORY_ENV):
        connect()
    assert not (tmp_path / "pwned.csv").exists()


@pytest.mark.parametrize("value", ["2048MB", "1.5GiB", "512 MiB"])
def test_a_memory_setting_that_is_a_size_is_used(monkeypatch, value):
    monkeypatch.setenv(MEMORY_ENV, value)
    limit = connect().execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert limit and limit != "0 bytes"


def test_a_failing_sql_source_query_names_the_source_but_not_the_values(tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE orders ("Customer ID" TEXT, email TEXT)')
    query = "SELECT * FROM \"jane.doe@example.com\" WHERE email = 'bob@example.org'"
    data = {"sql": {"url": f"sqlite:///{db}", "query": query}, "columns": RETAIL_COLUMNS}
    cfg = load_config(write_config(tmp_path, data))
    with pytest.raises(InputError, match=r"the query failed \(OperationalError\)") as e:
        prepare(connect(), cfg.data)
    assert "jane.doe" not in str(e.value) and "bob@" not in str(e.value) and "sqlite" in str(e.value)


def test_redact_hides_quoted_values_parameters_emails_and_numbers():
    text = (
        'invalid input syntax for type integer: "12345x"\nDETAIL: Key (customer_id)=(12345) already exists.\n'
        "[SQL: INSERT INTO t VALUES (?)] [parameters: ('a@b.com', 0.93)]"
    )
    assert redact(text) == "invalid input syntax for type integer: <hidden>"
    assert redact("(sqlite3.IntegrityError) UNIQUE failed: key (id)=(17850) for jane@x.org") == (
        "(sqlite3.IntegrityError) UNIQUE failed: key <hidden> for <hidden>"
    )
