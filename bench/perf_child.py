"""`python -m bench.perf_child TASK ...`: one side of a peer row in its own process; prints a JSON line.

Each side runs in a fresh process under `/usr/bin/time`, so its CPU and peak memory are its own; the
JSON line gives `work`, the seconds of the measured work alone (reading the input included, imports
excluded). Tasks:

- `rfm-peer IN OUT DEDUP`: pandas reads the raw lines, optionally drops exact duplicate lines, then
  pymc-marketing's `rfm_summary` (frequency, recency, T, monetary value).
- `rfm-ours IN OUT DEDUP`: one DuckDB query of the same four numbers (`RFM_SQL`), optionally over
  `SELECT DISTINCT *` of the lines.
- `prepared CONFIG FOLDER`: the pipeline's `prepare` (load, clean, orders), `lines` and `orders` written
  to FOLDER as Parquet with the last purchase date: the common input of the two feature sides.
- `features-ours FOLDER CUTOFF HORIZON OUT` / `features-pandas ...`: the feature table at one cutoff from
  those tables, by `customer_features` on DuckDB or by bench/pandas_features.py.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import date
from pathlib import Path

RFM_SQL = """
WITH raw AS (SELECT "Customer ID", InvoiceDate, Quantity, Price FROM {source}),
d AS (
    SELECT "Customer ID" AS customer_id, CAST(InvoiceDate AS DATE) AS day, sum(Quantity * Price) AS m
    FROM raw WHERE "Customer ID" IS NOT NULL GROUP BY ALL
),
f AS (SELECT *, min(day) OVER (PARTITION BY customer_id) AS first_day FROM d)
SELECT customer_id, CAST(count(*) - 1 AS DOUBLE) AS frequency,
    CAST(date_diff('day', min(day), max(day)) AS DOUBLE) AS recency,
    CAST(date_diff('day', min(day), (SELECT max(CAST(InvoiceDate AS DATE)) FROM raw)) AS DOUBLE) AS T,
    coalesce(avg(CASE WHEN day > first_day THEN m END), 0) AS monetary_value
FROM f GROUP BY customer_id ORDER BY customer_id
"""


def rfm_sql(dedup: bool) -> str:
    """The four numbers from the raw lines, or from their distinct lines (every column compared)."""
    source = "(SELECT DISTINCT * FROM read_parquet($p))" if dedup else "read_parquet($p)"
    return RFM_SQL.replace("{source}", source)


def _rfm_peer(src: str, out: str, dedup: bool) -> float:
    import pandas as pd

    warnings.filterwarnings("ignore")
    from pymc_marketing.clv.utils import rfm_summary

    start = time.perf_counter()
    needed = ["Customer ID", "InvoiceDate", "Quantity", "Price"]
    df = pd.read_parquet(src, columns=None if dedup else needed)  # duplicates are judged on every column
    if dedup:
        df = df.drop_duplicates(ignore_index=True)
    df["monetary"] = df["Quantity"] * df["Price"]
    s = rfm_summary(df, "Customer ID", "InvoiceDate", monetary_value_col="monetary")
    work = time.perf_counter() - start
    s.sort_values("customer_id").to_parquet(out)
    return work


def _rfm_ours(src: str, out: str, dedup: bool) -> float:
    import duckdb

    start = time.perf_counter()
    s = duckdb.connect().execute(rfm_sql(dedup), {"p": src}).df()
    work = time.perf_counter() - start
    s.to_parquet(out)
    return work


def _prepared(config: str, folder: str) -> dict:
    from segment.pipeline.config_file import load_config
    from segment.pipeline.prepare import prepare_data

    cfg = load_config(Path(config))
    p = prepare_data(cfg.data)
    for table in ("lines", "orders"):
        p.engine.execute(f"COPY {table} TO '{Path(folder) / table}.parquet' (FORMAT parquet)")
    return {"cutoff": p.last.isoformat(), "horizon": cfg.time.horizon_days, "lines": p.report.rows_out}


def _features_ours(folder: str, cutoff: date, horizon: int, out: str) -> float:
    from segment.features.customer import customer_features
    from segment.features.engine import DuckDBEngine
    from segment.pipeline.prepare import connect, fit_memory_limit

    con = connect()
    for table in ("lines", "orders"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{Path(folder) / table}.parquet')")
    fit_memory_limit(con, con.execute("SELECT count(*) FROM lines").fetchone()[0])
    start = time.perf_counter()
    features = customer_features(DuckDBEngine(con), [cutoff], horizon_days=horizon)
    work = time.perf_counter() - start
    features.to_parquet(out)
    return work


def _read_floats(path: Path):
    """A Parquet table as pandas with its DECIMAL columns as float64 (what DuckDB's `.df()` gives)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    fields = [pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields)).to_pandas()


def _features_pandas(folder: str, cutoff: date, horizon: int, out: str) -> float:
    from bench.pandas_features import pandas_features

    lines, orders = _read_floats(Path(folder) / "lines.parquet"), _read_floats(Path(folder) / "orders.parquet")
    start = time.perf_counter()
    features = pandas_features(lines, orders, cutoff, horizon)
    work = time.perf_counter() - start
    features.to_parquet(out)
    return work


def main(argv: list[str]) -> dict:
    """Run one task; return its JSON result."""
    task, args = argv[0], argv[1:]
    if task in ("rfm-peer", "rfm-ours"):
        run = _rfm_peer if task == "rfm-peer" else _rfm_ours
        return {"work": run(args[0], args[1], args[2] == "dedup")}
    if task == "prepared":
        return _prepared(args[0], args[1])
    if task in ("features-ours", "features-pandas"):
        run = _features_ours if task == "features-ours" else _features_pandas
        return {"work": run(args[0], date.fromisoformat(args[1]), int(args[2]), args[3])}
    raise SystemExit(f"unknown task {task!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
