"""Each rewrite rule of features/dialect.py: the translation's text, then the same SQL on DuckDB and on Spark."""

from __future__ import annotations

import pandas as pd
import pytest

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install -e '.[spark]')")

from segment.features.dialect import UnsupportedSQL, to_spark  # noqa: E402
from tests.spark.dialect_support import both  # noqa: E402

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
