"""The seam between feature definitions and the SQL engine that runs them.

Feature, order, label and gap queries are SQL text (DuckDB dialect) built by pure functions over named
relations; an `Engine` runs that text. `DuckDBEngine` is the embedded default; another engine (Spark)
implements the same four methods and translates the text to its dialect. So a feature's definition is
never tied to one engine's connection object, and tests can build the relations from small frames.
"""

from __future__ import annotations

from typing import Any, Protocol

import duckdb
import pandas as pd


class Engine(Protocol):
    """What the feature steps need from a SQL engine."""

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a SELECT and return its rows as pandas."""
        ...

    def create_table(self, name: str, sql: str) -> None:
        """`CREATE OR REPLACE TABLE name AS <sql>`."""
        ...

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a pandas frame available as the relation `name` (replacing any earlier one)."""
        ...

    def columns(self, name: str) -> list[str]:
        """The column names of relation `name`."""
        ...

    def drop(self, name: str) -> None:
        """Drop the table `name` if it exists (an intermediate result no longer needed)."""
        ...


class DuckDBEngine:
    """An `Engine` over a DuckDB connection (in-memory by default)."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con if con is not None else duckdb.connect(":memory:")

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:  # noqa: D102
        return self.con.execute(sql, params or []).df()

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Run a statement and return its rows as tuples (DDL/DML and small scalar queries)."""
        return self.con.execute(sql, params or []).fetchall()

    def create_table(self, name: str, sql: str) -> None:  # noqa: D102
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")

    def register(self, name: str, frame: pd.DataFrame) -> None:  # noqa: D102
        self.con.register(name, frame)

    def columns(self, name: str) -> list[str]:  # noqa: D102
        return list(self.con.table(name).columns)

    def drop(self, name: str) -> None:  # noqa: D102
        self.con.execute(f"DROP TABLE IF EXISTS {name}")
