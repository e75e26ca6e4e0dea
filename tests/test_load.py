"""Loading real-world exports: every source kind, time zones, exact ids, every bad-input case, odd valid data."""

import os
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.pipeline.clean import drop_duplicate_lines
from segment.pipeline.cli import main
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare
from tests.conftest import RETAIL_COLUMNS, SAMPLE, lines_frame, write_config

ROWS = [
    ("A1", "2021-01-04 10:00", "1", "P1", 2, 5.0),
    ("A1", "2021-01-04 10:00", "1", "P2", 1, 10.0),
    ("A1", "2021-02-10 09:30", "2", "P1", 4, 5.0),
    ("007", "2021-01-20 12:00", "3", "P3", 1, 40.0),
    ("B2", "2021-03-01 08:00", "4", "P1", 1, 8.0),
]


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["segment", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _config(folder: Path, source, **data) -> Path:
    return write_config(folder, {"source": source, "columns": RETAIL_COLUMNS, **data})


def _report(path: Path):
    return prepare(connect(), load_config(path).data)


# ---------------------------------------------------------------- sources


def test_csv_with_other_delimiter_encoding_and_quotes_loads_like_parquet(tmp_path):
    df = lines_frame(ROWS).assign(Description=['CAFÉ; "BIG" MUG', "x", "y", "z", "w"])
    df.to_parquet(tmp_path / "lines.parquet", index=False)
    (tmp_path / "csv").mkdir()
    df.to_csv(tmp_path / "csv" / "lines.csv", sep=";", encoding="latin-1", index=False)
    a = _report(_config(tmp_path, str(tmp_path / "lines.parquet")))
    b = _report(_config(tmp_path, str(tmp_path / "csv"), csv={"delimiter": ";", "encoding": "latin-1"}))
    assert (a.rows_out, a.customers, a.orders) == (b.rows_out, b.customers, b.orders) == (5, 3, 4)
    df.to_csv(tmp_path / "csv" / "lines.csv", sep=";", encoding="cp1252", index=False)  # not native to DuckDB
    c = _report(_config(tmp_path, str(tmp_path / "csv"), csv={"delimiter": ";", "encoding": "cp1252"}))
    assert (c.rows_out, c.customers, c.orders) == (5, 3, 4)


def test_typed_parquet_columns_give_the_same_lines_as_their_text(tmp_path):
    """Integers, doubles and timestamps cast directly (Parquet) equal the same values parsed from text (CSV)."""
    rows = [*ROWS, ("C3", "2021-03-02 08:00:01", "5", "P2", -3, 0.1 + 0.2), ("C3", "2021-03-03", "6", "P2", 7, 1e-7)]
    df = lines_frame(rows).assign(Price=lambda d: d["Price"] * 1.0, Quantity=lambda d: d["Quantity"].astype("int64"))
    df.to_parquet(tmp_path / "lines.parquet", index=False)
    (tmp_path / "csv").mkdir()
    df.to_csv(tmp_path / "csv" / "lines.csv", index=False)
    tables = []
    for source in (tmp_path / "lines.parquet", tmp_path / "csv"):
        con = connect()
        prepare(con, load_config(_config(tmp_path, str(source))).data)
        tables.append(con.execute("SELECT * FROM lines ORDER BY ALL").fetchall())
    assert tables[0] == tables[1] and len(tables[0]) == len(rows)


def _sample_rows() -> pd.DataFrame:
    raw = pd.concat([pd.read_parquet(f) for f in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    return raw.head(20_000)


def _same_lines_as_files(tmp_path: Path, url: str) -> None:
    raw = _sample_rows()
    raw.to_parquet(tmp_path / "raw.parquet", index=False)
    table = f"orders_{os.getpid()}"
    engine = sa.create_engine(url)
    raw.to_sql(table, engine, if_exists="replace", index=False)  # Customer ID is a float column with NULLs
    engine.dispose()
    files = load_config(_config(tmp_path, str(tmp_path / "raw.parquet"))).data
    sql_path = write_config(
        tmp_path,
        {"sql": {"url": url, "query": f'SELECT * FROM "{table}"', "chunk_rows": 3000}, "columns": RETAIL_COLUMNS},
    )
    from_sql = load_config(sql_path).data
    con_a, con_b = connect(), connect()
    ra, rb = prepare(con_a, files), prepare(con_b, from_sql)
    assert (ra.rows_in, ra.rows_out, ra.dropped) == (rb.rows_in, rb.rows_out, rb.dropped)
    ids_a = {r[0] for r in con_a.execute("SELECT DISTINCT customer_id FROM lines").fetchall()}
    ids_b = {r[0] for r in con_b.execute("SELECT DISTINCT customer_id FROM lines").fetchall()}
    assert ids_a == ids_b and not any(i.endswith(".0") for i in ids_b)
    fa = customer_features(DuckDBEngine(con_a), [date(2010, 3, 1)], horizon_days=90)
    fb = customer_features(DuckDBEngine(con_b), [date(2010, 3, 1)], horizon_days=90)
    pd.testing.assert_frame_equal(fa, fb)


def test_sql_source_on_sqlite_gives_the_same_lines_as_the_files(tmp_path):
    _same_lines_as_files(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}")


def test_sql_source_on_postgresql_gives_the_same_lines_as_the_files(tmp_path, postgres_url):
    _same_lines_as_files(tmp_path, postgres_url)


def test_time_zones_dates_and_formats(tmp_path):
    df = pd.DataFrame(
        {
            "Customer ID": ["1", "2", "3"],
            "InvoiceDate": ["2021-06-01T10:00:00+02:00", "2021-06-01", "2021-06-01 23:30:00Z"],
            "Invoice": ["a", "b", "c"],
            "StockCode": "P",
            "Quantity": 1,
            "Price": 1.0,
            "Country": "UK",
        }
    )
    df.to_csv(tmp_path / "tz.csv", index=False)
    con = connect()
    prepare(con, load_config(_config(tmp_path, str(tmp_path / "tz.csv"), timezone="Europe/London")).data)
    got = dict(con.execute('SELECT customer_id, CAST("timestamp" AS VARCHAR) FROM lines').fetchall())
    assert got == {"1": "2021-06-01 09:00:00", "2": "2021-06-01 00:00:00", "3": "2021-06-02 00:30:00"}
    df.assign(InvoiceDate=["01/06/2021 10:00", "02/06/2021 11:15", "03/06/2021 12:30"]).to_csv(
        tmp_path / "eu.csv", index=False
    )
    con = connect()
    prepare(con, load_config(_config(tmp_path, str(tmp_path / "eu.csv"), timestamp_format="%d/%m/%Y %H:%M")).data)
    got = dict(con.execute('SELECT customer_id, CAST("timestamp" AS VARCHAR) FROM lines').fetchall())
    assert got["2"] == "2021-06-02 11:15:00"


def test_customer_ids_keep_their_exact_text_from_csv_and_float_parquet(tmp_path):
    pd.DataFrame({**lines_frame(ROWS).astype(str).to_dict("list")}).to_csv(tmp_path / "ids.csv", index=False)
    con = connect()
    prepare(con, load_config(_config(tmp_path, str(tmp_path / "ids.csv"))).data)
    assert {r[0] for r in con.execute("SELECT DISTINCT customer_id FROM lines").fetchall()} == {"A1", "007", "B2"}
    floats = lines_frame(ROWS[:1]).assign(**{"Customer ID": [17850.0]})
    floats.to_parquet(tmp_path / "f.parquet", index=False)
    con = connect()
    prepare(con, load_config(_config(tmp_path, str(tmp_path / "f.parquet"))).data)
    assert con.execute("SELECT DISTINCT customer_id FROM lines").fetchall() == [("17850",)]


# ---------------------------------------------------------------- bad input


def _bad_case(tmp_path: Path, case: str) -> tuple[list[str], str, str | None]:
    """(CLI args, expected words in the message, expected column) for one bad-input case."""
    good = lines_frame(ROWS)
    good.to_parquet(tmp_path / "good.parquet", index=False)
    cfg = lambda src, **kw: str(_config(tmp_path, src, **kw))  # noqa: E731
    if case == "missing required column":
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({"data": {"source": "x.csv", "columns": {"customer_id": "c", "amount": "a"}}}))
        return ["validate", "--config", str(path)], "data.columns.timestamp", None
    if case == "mapped column does not exist":
        good.rename(columns={"InvoiceDate": "Invoice Date"}).to_parquet(tmp_path / "r.parquet")
        return ["validate", "--config", cfg(str(tmp_path / "r.parquet"))], "did you mean 'Invoice Date'", "InvoiceDate"
    if case == "glob matches nothing":
        return ["validate", "--config", cfg(str(tmp_path / "exports" / "*.csv"))], "matches no CSV or Parquet", None
    if case == "empty file":
        (tmp_path / "e.csv").write_bytes(b"")
        return ["validate", "--config", cfg(str(tmp_path / "e.csv"))], "is empty", None
    if case == "header only":
        good.head(0).to_csv(tmp_path / "h.csv", index=False)
        return ["validate", "--config", cfg(str(tmp_path / "h.csv"))], "has no data rows", None
    if case == "non-numeric quantity":
        good.astype({"Quantity": str}).assign(Quantity=["2", "one", "4", "1", "x"]).to_csv(tmp_path / "q.csv")
        return ["validate", "--config", cfg(str(tmp_path / "q.csv"))], "2 value(s) are not valid numbers", "Quantity"
    if case == "unparseable timestamps":
        good.astype({"InvoiceDate": str}).assign(InvoiceDate=["soon"] * 5).to_csv(tmp_path / "t.csv")
        return ["validate", "--config", cfg(str(tmp_path / "t.csv"))], "not valid timestamps", "InvoiceDate"
    if case == "score date before first order":
        return (
            ["score", "--config", cfg(str(tmp_path / "good.parquet")), "--date", "1999-01-01"],
            "before the first",
            None,
        )
    if case == "unknown config key":
        return (
            ["validate", "--config", cfg(str(tmp_path / "good.parquet"), colums={})],
            "data.colums: unknown key",
            None,
        )
    if case == "wrong type in config":
        path = cfg(str(tmp_path / "good.parquet"))
        return ["validate", "--config", path, "--set", "time.horizon_days=ninety"], "time.horizon_days", None
    if case == "files whose columns disagree":
        good.drop(columns="Price").to_parquet(tmp_path / "z_second.parquet")
        return ["validate", "--config", cfg(str(tmp_path / "*.parquet"))], "columns disagree with", "Price"
    if case == "undecodable file":
        (tmp_path / "u.csv").write_bytes(
            b"Customer ID,InvoiceDate,Invoice,StockCode,Quantity,Price\n1,2021-01-01,\xff\xfe,P,1,1\n"
        )
        return ["validate", "--config", cfg(str(tmp_path / "u.csv"))], "cannot be decoded as utf-8", None
    raise AssertionError(case)


BAD_CASES = [
    "missing required column",
    "mapped column does not exist",
    "glob matches nothing",
    "empty file",
    "header only",
    "non-numeric quantity",
    "unparseable timestamps",
    "score date before first order",
    "unknown config key",
    "wrong type in config",
    "files whose columns disagree",
    "undecodable file",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_gets_one_clear_message_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    args, expected, column = _bad_case(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = _cli(monkeypatch, capsys, *args)
    assert code == 2, err
    assert expected in err, err
    assert "Traceback" not in err and out == ""
    if column:
        assert f"column {column!r}" in err
    if case not in ("missing required column", "unknown config key", "wrong type in config"):
        assert "file " in err or "config" in err or "score date" in err
    after = sorted(p.name for p in tmp_path.iterdir())
    if case == "score date before first order":  # the data is valid: its clean lines are kept, nothing else
        assert [p.name for p in (tmp_path / "output").iterdir()] == ["store"]
        after.remove("output")
    assert after == before  # no store, no output folder


def test_examples_show_the_offending_values(tmp_path, monkeypatch, capsys):
    args, _, _ = _bad_case(tmp_path, "non-numeric quantity")
    _, _, err = _cli(monkeypatch, capsys, *args)
    assert "examples: 'one'; 'x'" in err


# ---------------------------------------------------------------- odd but valid


def test_odd_but_valid_data_loads_and_is_counted(tmp_path):
    rows = [
        *ROWS,
        (None, "2021-01-05 10:00", "9", "P1", 1, 5.0),  # guest checkout
        ("A1", "2021-01-04 10:00", "1", "P1", 2, 5.0),  # duplicate within the file
        ("A1", "2021-02-11 09:00", "C2", "P1", -4, 5.0),  # return
        ("B2", "2021-03-01 08:00", "4", "P9", 1, 0.0),  # zero price
        ("B2", "2021-03-01 08:00", "4", "POST", 1, 18.0),  # postage
        ("N3", "2021-02-01 10:00", "C7", "P1", -3, 5.0),  # only returns: negative net spend
    ]
    lines_frame(rows).to_parquet(tmp_path / "a.parquet", index=False)
    lines_frame(ROWS[:2]).to_parquet(tmp_path / "b.parquet", index=False)  # the overlap of two extracts
    report = _report(_config(tmp_path, str(tmp_path / "*.parquet"), non_product_codes=["POST"]))
    assert report.rows_in == 13
    assert report.dropped == {
        "missing_customer_id": 1,
        "missing_timestamp": 0,
        "missing_quantity_or_price": 0,
        "non_finite_or_huge_number": 0,
        "non_product_code": 1,
        "non_positive_price": 1,
        "duplicate_line": 3,
    }
    assert report.rows_out == 7 and report.return_lines == 2
    assert report.customers == 4 and report.customers_net_negative == 1
    assert report.customers_one_order == 2  # 007 and B2 (N3 never bought)


def test_a_single_customer_store_loads(tmp_path):
    lines_frame(ROWS[:3]).to_parquet(tmp_path / "one.parquet", index=False)
    con = connect()
    report = prepare(con, load_config(_config(tmp_path, str(tmp_path / "one.parquet"))).data)
    assert report.customers == 1
    feats = customer_features(DuckDBEngine(con), [date(2021, 3, 1)], horizon_days=90)
    assert list(feats["customer_id"]) == ["A1"] and feats.loc[0, "frequency"] == 2


def test_text_columns_are_trimmed_exactly_like_trim():
    """The shortcut that skips trim for plain ASCII text gives what NULLIF(trim(x), '') gives, on every edge."""
    from segment.pipeline.column_sql import text_expr

    values = ["", " ", "  ", "a", " a", "a ", " a b ", "\ta\n", "é", " é ", "\u00a0x", "x\u00a0", "\u3000x\u2003",
              "\u200bx", "x\u202f", "007", "A1 ", None]  # fmt: skip
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    got = con.execute(f"SELECT x, {text_expr('x')}, NULLIF(trim(x), '') FROM t").fetchall()
    assert [g[1] for g in got] == [g[2] for g in got]
    assert con.execute(f"SELECT {text_expr('CAST(42 AS INTEGER)')}").fetchall() == [("42",)]


def test_duplicate_lines_are_dropped_as_distinct_would_and_the_rest_keep_their_order():
    """NULLs compare equal, -0.0 equals 0.0, and every line that is not a repeat stays where it was."""
    con = duckdb.connect()
    rows = [("a", 1.0, None), ("b", 2.0, "x"), ("a", 1.0, None), ("c", -0.0, "y"), ("c", 0.0, "y"), ("d", 3.0, "z")]
    con.execute("CREATE TABLE lines (k VARCHAR, v DOUBLE, s VARCHAR)")
    con.executemany("INSERT INTO lines VALUES (?, ?, ?)", rows)
    distinct = sorted(con.execute("SELECT DISTINCT * FROM lines").fetchall(), key=str)
    # a real hash, and a constant one: every line then collides with every other and only the full
    # comparison can tell them apart
    for name, h in (("hashed", "hash(k, v, s)"), ("colliding", "0")):
        con.execute(f"CREATE TABLE {name} AS SELECT *, {h} AS line_hash FROM lines")
        drop_duplicate_lines(con, name)
        got = con.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall()
        assert sorted(got, key=str) == distinct and len(got) == 4, name
        assert [r[0] for r in got] == ["a", "b", "c", "d"], name


def test_memory_limit_shrinks_with_the_input_and_the_environment_fixes_it(monkeypatch):
    """Small inputs get room to aggregate in memory; a billion lines get the floor that keeps them under 8 GiB."""
    from segment.pipeline.prepare import (
        MAX_MEMORY_MIB,
        MEMORY_ENV,
        MIN_MEMORY_MIB,
        connect,
        fit_memory_limit,
        memory_limit_mib,
    )

    sizes = [10_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000, 1_000_000_000, 2_000_000_000]
    limits = [memory_limit_mib(n) for n in sizes]
    assert limits == sorted(limits, reverse=True)
    assert limits[0] <= MAX_MEMORY_MIB and limits[-1] == limits[-2] == MIN_MEMORY_MIB

    def setting(con) -> str:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    monkeypatch.delenv(MEMORY_ENV, raising=False)
    con = connect()
    fit_memory_limit(con, 1_000_000_000)
    sized = setting(con)
    fit_memory_limit(con, 10_000)
    assert setting(con) != sized  # sized to the input

    monkeypatch.setenv(MEMORY_ENV, "700MB")
    con = connect()
    fixed = setting(con)
    fit_memory_limit(con, 10_000)
    assert setting(con) == fixed  # the environment wins
