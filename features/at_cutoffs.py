"""Features (and BG/NBD's purchase days) at a set of cutoffs: the cheaper of the two equal formulations.

`features.customer.customer_features` copies every order once per later cutoff, which is cheapest at one
cutoff (scoring); `features.running.running_features` reads the orders once and looks running sums up
per cutoff, which is cheaper from about three cutoffs on (training asks for about 30). Both give the
same frame (tests/test_running_features.py). The running one is DuckDB only (it reads a DuckDB
connection and finishes in numpy); another engine always gets the per-cutoff query.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import duckdb
import pandas as pd

from segment.features.customer import Relations, customer_features
from segment.features.engine import DuckDBEngine, Engine
from segment.features.purchase_days import purchase_days, with_purchase_days
from segment.features.running import running_features
from segment.schema import CUSTOMER_ID, CUTOFF

# CPU on 1M generated lines (docs/performance.md section 4): per-cutoff query 0.25-0.31 s at one cutoff,
# 0.38-0.39 s at two, 0.51-0.53 s at three; running sums 0.44-0.48 s at one to three
RUNNING_MIN_CUTOFFS = 3
SAMPLE_IDS = "sampled_customer_ids"


def uses_running(engine: Engine, cutoffs: Sequence[date]) -> bool:
    """Whether the running-sum formulation is the cheaper one here."""
    on_duckdb = isinstance(engine, DuckDBEngine) and isinstance(engine.con, duckdb.DuckDBPyConnection)  # not Spark's
    return on_duckdb and len(set(cutoffs)) >= RUNNING_MIN_CUTOFFS


def _all_customers(engine: Engine, cutoffs: Sequence[date], horizon_days: int, rel: Relations) -> pd.DataFrame:
    if uses_running(engine, cutoffs):
        customers = None if rel.orders == "orders" else SAMPLE_IDS
        return running_features(
            engine.con, cutoffs, horizon_days=horizon_days, with_purchase_days=True, customers=customers
        )
    feats = customer_features(engine, cutoffs, horizon_days=horizon_days, rel=rel)
    return with_purchase_days(feats, purchase_days(engine, cutoffs, orders=rel.orders))


def features_at(
    engine: Engine,
    cutoffs: Sequence[date],
    *,
    horizon_days: int,
    customers: Sequence[str] | None = None,
    sampled: Collection[date] = (),
) -> pd.DataFrame:
    """`customer_features` at the cutoffs with the `purchase_days` column, by the cheaper formulation.

    With `customers`, the rows at the `sampled` cutoffs are only those customers' (the training-row cap,
    applied before the features are built); every other cutoff keeps every customer.
    """
    if customers is None or not set(sampled) & set(cutoffs):
        return _all_customers(engine, cutoffs, horizon_days, Relations())
    at = sorted(set(cutoffs) & set(sampled))
    rest = sorted(set(cutoffs) - set(at))
    engine.register(SAMPLE_IDS, pd.DataFrame({CUSTOMER_ID: pd.Series(list(customers), dtype=object)}))
    rel = Relations(lines="sampled_lines", orders="sampled_orders", cutoffs="sampled_cutoffs")
    if not uses_running(engine, at):  # the per-cutoff query reads the sampled customers' copies
        for name, source in (("sampled_lines", "lines"), ("sampled_orders", "orders")):
            keep = f"{CUSTOMER_ID} IN (SELECT {CUSTOMER_ID} FROM {SAMPLE_IDS})"
            engine.create_table(name, f"SELECT * FROM {source} WHERE {keep}")
    try:
        parts = [_all_customers(engine, at, horizon_days, rel)]
    finally:
        for name in ("sampled_lines", "sampled_orders"):
            engine.drop(name)
    if rest:
        parts.append(_all_customers(engine, rest, horizon_days, Relations()))
    out = pd.concat(parts, ignore_index=True)
    if not out[CUTOFF].is_monotonic_increasing:  # one query's order: by cutoff (each from one part), then customer
        out = out.sort_values(CUTOFF, kind="stable", ignore_index=True)
    return out
