"""The segment table's value and timing columns at a score date (issue 18), from the value and timing champions.

`expected_revenue` (net revenue over the value champion's horizon), `value_tier` (high / medium / low by
`value.tier_percentiles` of it among the customers scored together), `expected_orders` (BG/NBD's
expected purchase days over the same horizon, an input of the model, so free) and
`expected_next_order_date` (the timing champion's date, None when not expected within its grid). A
store trained before these models has no such champions: the columns are then empty, never a failure.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from segment.config import Config
from segment.features.cutoff_tables import CutoffTables
from segment.features.engine import DuckDBEngine
from segment.models.btyd import value_features
from segment.models.timing import expected_next_order_date
from segment.models.value import value_tiers
from segment.schema import CUSTOMER_ID, EXPECTED_NEXT_ORDER_DATE, EXPECTED_ORDERS, EXPECTED_REVENUE, VALUE_TIER

EXPECTED_PURCHASES = "btyd_expected_purchases"  # the BTYD feature behind expected_orders


def empty_value_columns(ids: np.ndarray | pd.Series) -> pd.DataFrame:
    """The four columns, empty, for every customer: no value or timing champion to fill them."""
    n = len(ids)
    return pd.DataFrame(
        {
            CUSTOMER_ID: np.asarray(ids).astype(str),
            EXPECTED_REVENUE: np.full(n, np.nan),
            VALUE_TIER: pd.Series([None] * n, dtype="object"),
            EXPECTED_NEXT_ORDER_DATE: pd.Series([None] * n, dtype="object"),
            EXPECTED_ORDERS: np.full(n, np.nan),
        }
    )


def value_columns(
    engine: DuckDBEngine,
    when: date,
    cfg: Config,
    value_model: Any,
    timing_model: Any,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame | None:
    """The columns by customer id at `when`; a missing champion (None) leaves its columns empty (both: None).

    `features`: the snapshot step's customer features at `when` (same `time.horizon_days`), reused
    instead of built again; only the BTYD inputs are computed here.
    """
    if value_model is None and timing_model is None:
        return None
    horizon = getattr(value_model, "horizon_days", None) or cfg.value.horizon_days[0]
    tables = CutoffTables(engine.con, cfg.time.horizon_days, features)
    X = value_features(engine.con, [when], horizon_days=horizon, feature_horizon=cfg.time.horizon_days, tables=tables)
    out = empty_value_columns(X[CUSTOMER_ID])
    if value_model is not None:
        expected = np.clip(np.asarray(value_model.predict(X), dtype=float), 0.0, None)
        out[EXPECTED_REVENUE] = expected
        out[VALUE_TIER] = value_tiers(expected, cfg.value.tier_percentiles) if len(X) else out[VALUE_TIER]
        out[EXPECTED_ORDERS] = X[EXPECTED_PURCHASES].to_numpy(dtype=float)
    if timing_model is not None:
        days = timing_model.expected_next_order_days(X)
        out[EXPECTED_NEXT_ORDER_DATE] = expected_next_order_date(when, days).to_numpy(dtype=object)
    return out
