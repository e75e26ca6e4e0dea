"""The bulk insert stores exactly what pandas' default `to_sql` insert stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import os
import sqlite3
from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from segment.pipeline import database, database_insert
from segment.pipeline.database_insert import map_distinct
from segment.pipeline.safe_paths import sqlite_url
from segment.schema import SCORE_DATE, SEGMENT_TABLE

DAY = date(2021, 3, 1)


def segment_frame(n: int, seed: int, when: date = DAY) -> pd.DataFrame:
    """The segment table's columns and dtypes (segment/schema.py), with the values that are hard to store.

    Missing values of every kind (NaN, None, NaT), dates, timestamps, booleans with and without gaps, extreme
    floats and integers, text that COPY's text format must escape.
    """
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for name, dtype in SEGMENT_TABLE.items():
        if dtype == "float64":
            v = rng.normal(0, 1e3, n)
            v[rng.random(n) < 0.2] = np.nan
            cols[name] = v
        elif dtype == "int64":
            cols[name] = rng.integers(-(2**62), 2**62, n) if name == "cluster_id" else rng.integers(1, 11, n)
        else:
            words = np.array(["Champions", "Can't Lose Them", "tab\there", "new\nline", "back\\slash", "", "ümlaut €"])
            v = rng.choice(words, n).astype(object)
            v[rng.random(n) < 0.2] = None
            cols[name] = v
    frame = pd.DataFrame(cols)
    frame["customer_id"] = [f"C{i:07d}" for i in range(n)]
    frame[SCORE_DATE] = when
    due = pd.Series([date(2021, 3, 1 + int(d)) for d in rng.integers(0, 28, n)], dtype=object)
    frame["expected_next_order_date"] = due.where(rng.random(n) < 0.6, None)
    extremes = [math.inf, -math.inf, 1.7976931348623157e308, 5e-324, -0.0, 0.1 + 0.2, 2.0**53 + 1]
    frame.loc[: len(extremes) - 1, "monetary"] = extremes[: min(n, len(extremes))]
    frame["cluster_id"] = frame["cluster_id"].astype("int64")
    frame.loc[0, "cluster_id"] = 2**63 - 1
    frame["last_seen"] = pd.to_datetime("2021-02-01 10:30:00.123456") + pd.to_timedelta(rng.integers(0, 9e6, n), "s")
    frame.loc[1, "last_seen"] = pd.NaT
    frame.loc[2, "last_seen"] = pd.Timestamp("2021-02-03 04:05:06")  # no microseconds: formats differ there
    frame["subscribed"] = rng.random(n) < 0.5
    frame["opted_in"] = pd.Series(rng.random(n) < 0.5, dtype=object).where(rng.random(n) < 0.7, None)
    frame["orders_int_with_gaps"] = pd.array(rng.integers(0, 5, n), dtype="Int64")
    frame.loc[2, "orders_int_with_gaps"] = pd.NA
    frame["label"] = pd.array(rng.choice(["a", "b"], n), dtype="str")
    frame.loc[3, "label"] = None
    return frame


def old_write(conn: sa.Connection, name: str, df: pd.DataFrame) -> None:
    """The insert as it was before the bulk path: pandas' default, 10,000 rows per executemany."""
    df.to_sql(name, conn, if_exists="append", index=False, chunksize=10_000, dtype={SCORE_DATE: sa.Date()})


def sqlite_contents(path, name: str) -> tuple[list, list, list]:
    """Declared types, every stored value exactly (type and repr: -0.0, 5e-324), and typeof() per column."""
    with sqlite3.connect(path) as conn:
        declared = [(r[1], r[2]) for r in conn.execute(f'PRAGMA table_info("{name}")')]
        cols = [c for c, _ in declared]
        rows = conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
        typeofs = conn.execute(
            f'SELECT {", ".join(f"typeof({q})" for q in (chr(34) + c + chr(34) for c in cols))} FROM "{name}" '
            "ORDER BY rowid"
        ).fetchall()
    return declared, [[(type(v).__name__, repr(v)) for v in r] for r in rows], typeofs


def test_sqlite_bulk_insert_stores_what_the_default_insert_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(database_insert, "ROWS_PER_BATCH", 1_000)
    frame = segment_frame(20_123, seed=7)  # rows in many batches, and in more than one of the old chunks
    old_db, new_db = tmp_path / "old.db", tmp_path / "new.db"
    engine = database.create_engine(sqlite_url(old_db))
    with engine.begin() as conn:
        old_write(conn, "segment_table", frame)
    engine.dispose()
    database.write_database({"segment_table": frame}, sqlite_url(new_db), DAY)
    old, new = sqlite_contents(old_db, "segment_table"), sqlite_contents(new_db, "segment_table")
    assert new[0] == old[0]  # the same declared column types (pandas still creates the table)
    assert len(new[1]) == len(frame)
    assert new[2] == old[2]  # typeof() of every stored value
    assert new[1] == old[1]  # every value, exactly
    kinds = dict(zip([c for c, _ in old[0]], zip(*old[2], strict=True), strict=True))
    assert {"null", "text"} == set(kinds["expected_next_order_date"]) and set(kinds["cluster_id"]) == {"integer"}
    assert {"null", "real"} == set(kinds["monetary"])  # the test covers what it claims: NaN stored as NULL
    via_pandas = [pd.read_sql("SELECT * FROM segment_table", f"sqlite:///{p}") for p in (old_db, new_db)]
    pd.testing.assert_frame_equal(via_pandas[1], via_pandas[0])


def test_sqlite_bulk_insert_into_an_existing_older_table_matches_too(tmp_path):
    """A re-run of the date and a table an older version wrote (columns added) store the same as before."""
    first, second = segment_frame(500, seed=1), segment_frame(700, seed=2)
    older = first.drop(columns=["subscribed", "last_seen"])
    paths = {"old": tmp_path / "old.db", "new": tmp_path / "new.db"}
    for kind, path in paths.items():
        engine = database.create_engine(sqlite_url(path))
        with engine.begin() as conn:  # the older table, written the old way
            old_write(conn, "segment_table", older)
        engine.dispose()
        if kind == "new":
            database.write_database({"segment_table": second}, sqlite_url(path), DAY)
            continue
        engine = database.create_engine(sqlite_url(path))
        with engine.begin() as conn:  # what write_rows did before, step by step
            t = sa.Table("segment_table", sa.MetaData(), autoload_with=conn)
            database.add_missing_columns(conn, t, second)
            conn.execute(t.delete().where(t.c.score_date == DAY))
            old_write(conn, "segment_table", second)
        engine.dispose()
    old, new = sqlite_contents(paths["old"], "segment_table"), sqlite_contents(paths["new"], "segment_table")
    assert len(new[1]) == 700 and new == old


def test_a_failing_bulk_insert_is_reported_without_values_and_leaves_nothing(tmp_path):
    url = sqlite_url(tmp_path / "x.db")
    frame = segment_frame(300, seed=3)
    frame.loc[299, "customer_id"] = frame.loc[0, "customer_id"]  # the last row breaks a unique index
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        old_write(conn, "segment_table", frame.head(0))
        conn.execute(sa.text("CREATE UNIQUE INDEX u ON segment_table (customer_id)"))
    engine.dispose()
    with pytest.raises(database.PublishError) as e:
        database.write_database({"segment_table": frame}, url, DAY)
    assert "IntegrityError" in str(e.value) and "C0000000" not in str(e.value)
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("SELECT count(*) FROM segment_table").fetchone() == (0,)  # one transaction


def test_map_distinct_calls_once_per_value_and_keeps_order():
    calls: list = []

    def proc(v):
        calls.append(v)
        return None if v is None else str(v)

    values = (date(2021, 1, 2), None, date(2021, 1, 1), date(2021, 1, 2), None)
    assert map_distinct(proc, values) == ["2021-01-02", None, "2021-01-01", "2021-01-02", None]
    assert sorted(calls, key=str) == sorted({*values}, key=str)  # each distinct value once
    assert map_distinct(len, (["a"], ["b", "c"])) == [1, 2]  # unhashable values: one call each


def _pg_contents(url: str, name: str) -> tuple[list, list]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            declared = conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = :t ORDER BY ordinal_position"
                ),
                {"t": name},
            ).fetchall()
            rows = conn.exec_driver_sql(f'SELECT * FROM "{name}" ORDER BY customer_id').fetchall()
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
            conn.commit()
    finally:
        engine.dispose()
    return [tuple(r) for r in declared], [[(type(v).__name__, repr(v)) for v in r] for r in rows]


def test_postgresql_copy_stores_what_the_default_insert_stored(postgres_url):
    frame = segment_frame(5_000, seed=11)
    names = {"old": f"seg_old_{os.getpid()}", "new": f"seg_new_{os.getpid()}"}
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        old_write(conn, names["old"], frame)
    engine.dispose()
    database.write_database({names["new"]: frame}, postgres_url, DAY)
    old, new = _pg_contents(postgres_url, names["old"]), _pg_contents(postgres_url, names["new"])
    assert new[0] == old[0] and len(new[1]) == len(frame)
    assert new[1] == old[1]
    assert ("float", "inf") in [r[4] for r in new[1]] and ("NoneType", "None") in [r[4] for r in new[1]]


def test_postgresql_keeps_the_default_insert_where_a_stored_column_has_another_type(postgres_url):
    """An older table whose column is an integer: INSERT casts the floats, COPY would refuse them."""
    frame = segment_frame(50, seed=13)[["customer_id", SCORE_DATE, "monetary", "recency_days"]]
    frame = frame.assign(monetary=frame["monetary"].fillna(1.5).clip(-1e6, 1e6).round(1))
    names = {"old": f"seg_cast_old_{os.getpid()}", "new": f"seg_cast_new_{os.getpid()}"}
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        for name in names.values():
            conn.exec_driver_sql(
                f'CREATE TABLE "{name}" (customer_id TEXT, score_date DATE, monetary BIGINT, recency_days FLOAT)'
            )
        old_write(conn, names["old"], frame)
    engine.dispose()
    database.write_database({names["new"]: frame}, postgres_url, DAY)
    old, new = _pg_contents(postgres_url, names["old"]), _pg_contents(postgres_url, names["new"])
    assert new == old and {t for t, _ in (r[2] for r in new[1])} == {"int"}


def test_a_failing_copy_is_reported_without_values_and_leaves_nothing(postgres_url):
    frame = segment_frame(300, seed=3)
    frame.loc[299, "customer_id"] = frame.loc[0, "customer_id"]  # the last row breaks a unique index
    name = f"seg_unique_{os.getpid()}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        old_write(conn, name, frame.head(5))
        conn.exec_driver_sql(f'DELETE FROM "{name}"')
        conn.exec_driver_sql(f'CREATE UNIQUE INDEX "{name}_u" ON "{name}" (customer_id)')
    engine.dispose()
    with pytest.raises(database.PublishError) as e:
        database.write_database({name: frame}, postgres_url, DAY)
    assert "UniqueViolation" in str(e.value) and "C0000000" not in str(e.value)
    assert len(_pg_contents(postgres_url, name)[1]) == 0  # one transaction: nothing of it stays
