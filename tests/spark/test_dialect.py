"""Each rewrite rule of features/dialect.py: the translation's text, then the same SQL on DuckDB and on Spark."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install -e '.[spark]')")

from segment.features.dialect import UnsupportedSQL, to_spark  # noqa: E402

LINES = pd.DataFrame(
    {
        "k": ["a", "a", "b", "b", "b", "c"],
        "s": ["é", " x", "bx", "plain", None, "zz "],
        "d": [date(2024, 1, d) for d in (7, 8, 12, 13, 14, 6)],  # Sun Mon Fri Sat Sun Sat
        "ts": pd.to_datetime(
            ["2024-01-01", "2024-01-03 12:00:00.25", "2024-01-02", "2024-01-09 06:30", "2024-02-01", "2024-01-05"],
            format="ISO8601",
        ),
        "v": [1.0, 2.0, 3.0, 4.0, 10.0, 5.0],
        "c": ["z", "a", "z", "a", "q", None],
    }
)


def on_duckdb(sql: str, frames: dict[str, pd.DataFrame], setup: list[str] = ()) -> pd.DataFrame:
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(f"{name}_df", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_df")
    for stmt in setup:
        con.execute(stmt)
    return con.execute(sql).df()


def on_spark(engine, sql: str, frames: dict[str, pd.DataFrame], setup: list[str] = ()) -> pd.DataFrame:
    for name, frame in frames.items():  # a materialised table only where a statement changes it
        engine.register(f"{name}_df" if setup else name, frame)
        if setup:
            engine.create_table(name, f"SELECT * FROM {name}_df")
    for stmt in setup:
        engine.execute(stmt)
    return engine.query(sql)


def norm(values: pd.Series) -> list[str | None]:
    """Values as text, dates and times in one form, NULLs as None."""
    return [None if pd.isna(v) else str(pd.Timestamp(v)) if isinstance(v, datetime | date) else str(v) for v in values]


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns and rows (in order), numbers within 1e-9 relative, NULLs where NULLs are."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype.kind in "fiu" and y.dtype.kind in "fiu":
            np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=1e-9, atol=0, err_msg=col)
        else:
            assert norm(x) == norm(y), col


def both(engine, sql: str, frames: dict[str, pd.DataFrame] | None = None, setup: list[str] = ()) -> pd.DataFrame:
    frames = {"t": LINES} if frames is None else frames
    duck = on_duckdb(sql, frames, setup)
    spark = on_spark(engine, sql, frames, setup)
    assert_same(duck, spark)
    return duck


# --- the rules: translation text, then execution -------------------------------------------------------


def test_string_functions_text():
    assert to_spark("SELECT strlen(s), prefix(s, ' '), suffix(s, ' ') FROM t") == (
        "SELECT OCTET_LENGTH(s), STARTSWITH(s, ' '), ENDSWITH(s, ' ') FROM t"
    )


@pytest.mark.spark
def test_string_functions_run(engine):
    out = both(engine, "SELECT strlen(s) AS n, prefix(s, ' ') AS p, suffix(s, ' ') AS q FROM t ORDER BY k, s")
    assert out["n"].tolist()[0] == 2  # 'é' is two bytes: strlen counts bytes


def test_try_strptime_text():
    assert to_spark("SELECT try_strptime(x, '%d/%m/%Y %H:%M') FROM t") == (
        "SELECT CAST(TRY_TO_TIMESTAMP(x, 'd/M/yyyy H:m') AS TIMESTAMP_NTZ) FROM t"
    )
    with pytest.raises(UnsupportedSQL):
        to_spark("SELECT try_strptime(x, '%Y-%m-%d %z') FROM t")


@pytest.mark.spark
def test_try_strptime_run(engine):
    frame = pd.DataFrame({"x": ["01/02/2024 10:11", "31/12/2023 23:59", "not a date", "7/3/2024 9:05"]})
    out = both(engine, "SELECT x, try_strptime(x, '%d/%m/%Y %H:%M') AS ts FROM t ORDER BY x", {"t": frame})
    assert out["ts"].isna().sum() == 1


def test_timezone_text():
    assert to_spark("SELECT timezone('Europe/Paris', x) FROM t") == (
        "SELECT CAST(FROM_UTC_TIMESTAMP(CAST(x AS TIMESTAMP), 'Europe/Paris') AS TIMESTAMP_NTZ) FROM t"
    )


@pytest.mark.spark
def test_timezone_run(engine):
    frame = pd.DataFrame({"x": ["2024-07-01 10:00:00+00:00", "2024-01-15 23:30:00-05:00"]})
    sql = "SELECT x, timezone('Europe/Paris', TRY_CAST(x AS TIMESTAMPTZ)) AS local FROM t ORDER BY x"
    out = both(engine, sql, {"t": frame}, setup=["SET TimeZone = 'UTC'"])
    assert str(out["local"].iloc[1]) == "2024-07-01 12:00:00"


def test_day_of_week_text():
    assert to_spark("SELECT dayofweek(d), EXTRACT(dow FROM d) FROM t") == (
        "SELECT (DAYOFWEEK(d) - 1), (DAYOFWEEK(d) - 1) FROM t"
    )


@pytest.mark.spark
def test_day_of_week_run(engine):
    out = both(engine, "SELECT d, dayofweek(d) AS dow, dayofweek(d) IN (0, 6) AS weekend FROM t ORDER BY d")
    assert out["dow"].tolist() == [6, 0, 1, 5, 6, 0]
    assert out["weekend"].sum() == 4  # Sat 6th, Sun 7th, Sat 13th, Sun 14th: Spark's own numbering gives 2


def test_mode_order_text():
    assert to_spark("SELECT mode(c ORDER BY c) FROM t") == "SELECT MODE() WITHIN GROUP (ORDER BY c NULLS LAST) FROM t"
    assert "ORDER BY c DESC" in to_spark("SELECT mode(c ORDER BY c DESC) FROM t")
    with pytest.raises(UnsupportedSQL):
        to_spark("SELECT mode(c ORDER BY v) FROM t")


@pytest.mark.spark
def test_mode_order_run(engine):
    # group b holds z, a, q once each; group a holds z and a: ties, the first in order wins
    out = both(
        engine,
        "SELECT k, mode(c ORDER BY c) AS first, mode(c ORDER BY c DESC) AS last FROM t GROUP BY k ORDER BY k",
    )
    assert out["first"].tolist()[:2] == ["a", "a"] and out["last"].tolist()[:2] == ["z", "z"]


def test_exact_quantile_text():
    assert to_spark("SELECT quantile_cont(v, 0.9) FROM t") == "SELECT PERCENTILE(v, 0.9) FROM t"


@pytest.mark.spark
def test_exact_quantile_run(engine):
    out = both(engine, "SELECT k, quantile_cont(v, 0.9) AS q FROM t GROUP BY k ORDER BY k")
    assert out["q"].iloc[1] == pytest.approx(4.0 + 0.8 * 6.0)  # interpolated between 4 and 10, not a data value


def test_epoch_text():
    assert to_spark("SELECT epoch(a - b) / 86400.0 FROM t") == (
        "SELECT CAST((CAST(TIMESTAMPDIFF(MICROSECOND, b, a) AS DOUBLE) / 1000000) AS DOUBLE) / CAST(86400.0 AS DOUBLE) "
        "FROM t"
    )


@pytest.mark.spark
def test_epoch_run(engine):
    sql = (
        "SELECT k, ts, epoch(ts - lag(ts) OVER (PARTITION BY k ORDER BY ts)) / 86400.0 AS gap_days, epoch(ts) AS e "
        "FROM t ORDER BY k, ts"
    )
    out = both(engine, sql)
    assert out["gap_days"].iloc[1] == pytest.approx(2.5 + 0.25 / 86400)


def test_to_days_text():
    assert to_spark("SELECT d + to_days(CAST(n AS INTEGER)) FROM t") == (
        "SELECT TIMESTAMPADD(DAY, CAST(n AS INT), d) FROM t"
    )


@pytest.mark.spark
def test_to_days_run(engine):
    sql = "SELECT d, CAST(d + to_days(CAST(round(v) AS INTEGER)) AS DATE) AS due FROM t ORDER BY d"
    out = both(engine, sql)
    assert str(out["due"].iloc[0])[:10] == "2024-01-11"  # 6 January + 5 days


def test_double_division_text():
    assert to_spark("SELECT a / b, avg(x) FROM t") == (
        "SELECT CAST(a AS DOUBLE) / CAST(b AS DOUBLE), AVG(CAST(x AS DOUBLE)) FROM t"
    )


@pytest.mark.spark
def test_double_division_run(engine):
    frame = pd.DataFrame({"k": ["a", "a", "a"], "x": [1, 0, 0], "m": ["1.0000", "0.0001", "2.3333"]})
    sql = """SELECT k, avg(CASE WHEN x = 1 THEN 1.0 ELSE 0.0 END) AS share,
                    sum(CAST(m AS DECIMAL(18, 4))) / sum(x) AS per,
                    max(CAST(m AS DECIMAL(18, 4))) / sum(CAST(m AS DECIMAL(18, 4))) AS top, count(*) / 7 AS c
             FROM t GROUP BY k"""
    out = both(engine, sql, {"t": frame})
    assert out["share"].iloc[0] == 1 / 3  # Spark's decimal avg: 0.33333


def test_types_text():
    assert to_spark("SELECT CAST(x AS HUGEINT) FROM t") == "SELECT CAST(x AS DECIMAL(38, 0)) FROM t"


@pytest.mark.spark
def test_types_run(engine):
    frame = pd.DataFrame({"x": [17850.0, 12345678901234.0]})
    both(engine, "SELECT CAST(CAST(x AS HUGEINT) AS VARCHAR) AS id FROM t ORDER BY x", {"t": frame})


def test_columns_star_text():
    assert to_spark("SELECT hash(*COLUMNS(* EXCLUDE (c))) FROM t") == "SELECT HASH(* EXCEPT (c)) FROM t"
    with pytest.raises(UnsupportedSQL):
        to_spark("SELECT hash(*COLUMNS('^v')) FROM t")


@pytest.mark.spark
def test_columns_star_run(engine):
    # hashes differ between engines; which rows share one must not: rows equal but for c share a hash
    frame = pd.DataFrame({"a": [1, 1, 2, 1], "b": ["x", "x", "x", "y"], "c": [1, 2, 3, 4]})
    sql = "SELECT a, b, c, count(*) OVER (PARTITION BY hash(*COLUMNS(* EXCLUDE (c)))) AS n FROM t ORDER BY c"
    out = both(engine, sql, {"t": frame})
    assert out["n"].tolist() == [2, 2, 1, 1]


def test_delete_text():
    assert to_spark("DELETE FROM t WHERE v > 2") == (
        "CREATE OR REPLACE TABLE t AS SELECT * FROM t WHERE NOT (COALESCE(v > 2, FALSE))"
    )


@pytest.mark.spark
def test_delete_run(engine):
    both(engine, "SELECT * FROM t ORDER BY k, ts", setup=["DELETE FROM t WHERE c = 'z' OR v > 4"])


def test_alter_text():
    assert to_spark("ALTER TABLE t DROP COLUMN c") == "CREATE OR REPLACE TABLE t AS SELECT * EXCEPT (c) FROM t"
    assert to_spark("ALTER TABLE t RENAME COLUMN a TO b", {"t": ["x", "a", "y"]}) == (
        "CREATE OR REPLACE TABLE t AS SELECT `x`, `a` AS `b`, `y` FROM t"
    )
    with pytest.raises(UnsupportedSQL):
        to_spark("ALTER TABLE t RENAME COLUMN a TO b")  # needs the columns


@pytest.mark.spark
def test_alter_run(engine):
    setup = ["ALTER TABLE t DROP COLUMN s", "ALTER TABLE t RENAME COLUMN v TO value"]
    out = both(engine, "SELECT * FROM t ORDER BY k, ts", setup=setup)
    assert list(out.columns) == ["k", "d", "ts", "value", "c"]


def test_update_from_text():
    sql = "UPDATE t o SET c = m.c2 FROM m WHERE o.k = m.k"
    assert to_spark(sql, {"t": ["k", "c"]}) == (
        "CREATE OR REPLACE TABLE t AS SELECT `o`.`k`, CASE WHEN m.__matched THEN m.c2 ELSE `o`.`c` END AS `c` "
        "FROM t AS o LEFT JOIN (SELECT *, TRUE AS __matched FROM m) AS m ON o.k = m.k"
    )


@pytest.mark.spark
def test_update_from_run(engine):
    fix = pd.DataFrame({"k": ["a", "c"], "c2": ["new", None]})
    both(
        engine,
        "SELECT * FROM t ORDER BY k, ts",
        {"t": LINES, "m": fix},
        setup=["UPDATE t o SET c = m.c2 FROM m WHERE o.k = m.k AND o.v < 2"],
    )


def test_create_view_text():
    assert to_spark("CREATE OR REPLACE VIEW w AS SELECT 1 AS x") == (
        "CREATE OR REPLACE TEMPORARY VIEW w AS SELECT 1 AS x"
    )
    assert to_spark("CREATE OR REPLACE TEMP TABLE w AS SELECT 1 AS x") == "CREATE OR REPLACE TABLE w AS SELECT 1 AS x"


def test_union_by_name_text():
    assert to_spark("SELECT 1 AS a, 2 AS b UNION ALL BY NAME SELECT 3 AS b, 4 AS c") == (
        "SELECT 1 AS a, 2 AS b, NULL AS `c` UNION ALL SELECT NULL AS `a`, 3 AS b, 4 AS c"
    )


@pytest.mark.spark
def test_union_by_name_run(engine):
    sql = "SELECT k AS a, v AS b FROM t UNION ALL BY NAME SELECT v AS b, c AS a FROM t"
    both(engine, f"SELECT * FROM ({sql}) ORDER BY a, b")


def test_rowid_text():
    assert to_spark("SELECT rowid AS r, x FROM t WHERE x > 1") == (
        "SELECT __rowid AS r, x FROM t__rowid AS t WHERE x > 1"
    )
    assert to_spark("DELETE FROM t WHERE rowid IN (SELECT r FROM d)") == (
        "CREATE OR REPLACE TABLE t AS SELECT * EXCEPT (__rowid) FROM t__rowid AS t "
        "WHERE NOT (COALESCE(__rowid IN (SELECT r FROM d), FALSE))"
    )


@pytest.mark.spark
def test_rowid_run(engine):
    # the duplicate-removal pattern of clean.drop_duplicate_lines: keep the first of identical rows
    frame = pd.DataFrame({"a": [1, 1, 2, 1, 2, 3], "b": ["x", "x", "y", "x", "y", None]})
    setup = [
        "CREATE OR REPLACE TEMP TABLE cand AS SELECT rowid AS r, a, b FROM t",
        "DELETE FROM t WHERE rowid IN (SELECT r FROM cand EXCEPT SELECT min(r) FROM cand GROUP BY a, b)",
    ]
    out = both(engine, "SELECT * FROM t ORDER BY a, b", {"t": frame}, setup=setup)
    assert len(out) == 3


def test_placeholders_are_bound_in_text_order():
    assert to_spark("SELECT * FROM t WHERE d < CAST(? AS DATE) AND x = ?", params=[date(2020, 1, 2), "it's"]) == (
        "SELECT * FROM t WHERE d < CAST(CAST('2020-01-02' AS DATE) AS DATE) AND x = 'it\\'s'"
    )


def test_decimal_literal_parameters_are_exact():
    assert to_spark("SELECT ? AS x", params=[Decimal("1.25")]) == "SELECT 1.25 AS x"
