"""The statement rules of features/dialect.py (and parameter binding): translated text, then both engines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install -e '.[spark]')")

from segment.features.dialect import UnsupportedSQL, to_spark  # noqa: E402
from tests.spark.dialect_support import LINES, both  # noqa: E402


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
