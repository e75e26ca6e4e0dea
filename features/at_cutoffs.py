"""Features (and BG/NBD's purchase days) at a set of cutoffs: the cheaper of the two equal formulations.

`features.customer.customer_features` copies every order once per later cutoff, which is cheapest at one
cutoff (scoring); `features.running.running_features` reads the orders once and looks running sums up
per cutoff, which is cheaper from about three cutoffs on (training asks for about 30). Both give the
same frame (tests/test_running_features.py). The running one is DuckDB only (it reads a DuckDB
connection and finishes in numpy); another engine always gets the per-cutoff query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine, Engine
from segment.features.purchase_days import purchase_days, with_purchase_days
from segment.features.running import running_features

# CPU on 1M generated lines (docs/performance.md section 4): per-cutoff query 0.25-0.31 s at one cutoff,
# 0.38-0.39 s at two, 0.51-0.53 s at three; running sums 0.44-0.48 s at one to three
RUNNING_MIN_CUTOFFS = 3


def uses_running(engine: Engine, cutoffs: Sequence[date]) -> bool:
    """Whether the running-sum formulation is the cheaper one here."""
    return isinstance(engine, DuckDBEngine) and len(set(cutoffs)) >= RUNNING_MIN_CUTOFFS


def features_at(engine: Engine, cutoffs: Sequence[date], *, horizon_days: int) -> pd.DataFrame:
    """`customer_features` at the cutoffs with the `purchase_days` column, by the cheaper formulation."""
    if uses_running(engine, cutoffs):
        return running_features(engine.con, cutoffs, horizon_days=horizon_days, with_purchase_days=True)
    feats = customer_features(engine, cutoffs, horizon_days=horizon_days)
    return with_purchase_days(feats, purchase_days(engine, cutoffs))
