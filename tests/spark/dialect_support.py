"""Run one SQL text on DuckDB and, translated, on Spark, and compare: the helpers of the dialect tests."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

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
