"""What the marketing CSVs hold: the most valuable customers first, round numbers, the columns a campaign asks for.

Pure functions from the segment table to the rows written by `outputs.write_exports`; the segment table
itself (Parquet, database) keeps full precision and its contract order.
"""

from __future__ import annotations

import pandas as pd

from segment.schema import CUSTOMER_ID, EXPECTED_REVENUE, EXPORT_COLUMNS, SCORE_DATE

PROBABILITY_DECIMALS = 4
MONEY_DECIMALS = 2
MOVED_FILE = "moved_active_to_at_risk.csv"
PROBABILITIES = ("churn_probability", "purchase_probability")


def customer_extras(features: pd.DataFrame) -> pd.DataFrame | None:
    """Per-customer columns of the exports that are not in the segment table: the country, when mapped."""
    if "country" not in features:
        return None
    return features[[CUSTOMER_ID, "country"]].assign(**{CUSTOMER_ID: features[CUSTOMER_ID].astype(str)})


def by_value(rows: pd.DataFrame) -> pd.DataFrame:
    """Most valuable first (net spend), then customer id: a stable order a marketer can cut at any row."""
    return rows.sort_values(["monetary", CUSTOMER_ID], ascending=[False, True], kind="stable")


def export_rows(table: pd.DataFrame, extras: pd.DataFrame | None = None) -> pd.DataFrame:
    """The export columns present, last order date from recency, probabilities to 4 decimals, most valuable first."""
    rows = table.copy()
    score_date = pd.to_datetime(rows[SCORE_DATE].astype(str))
    rows["last_order_date"] = (score_date - pd.to_timedelta(rows["recency_days"], unit="D")).dt.date
    if extras is not None:
        rows = rows.merge(extras, on=CUSTOMER_ID, how="left")
    for col in PROBABILITIES:
        rows[col] = rows[col].round(PROBABILITY_DECIMALS)
    for col in ("monetary", EXPECTED_REVENUE):
        if col in rows:
            rows[col] = rows[col].round(MONEY_DECIMALS)
    return by_value(rows[[c for c in EXPORT_COLUMNS if c in rows]]).reset_index(drop=True)


def moved_to_at_risk(rows: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Customers active at the previous score date and at risk now, with their stage then: the win-back list."""
    cols = [*rows.columns[:1], "previous_stage", *rows.columns[1:]]
    if previous is None:
        return pd.DataFrame(columns=cols)
    before = previous[[CUSTOMER_ID, "lifecycle_stage"]].rename(columns={"lifecycle_stage": "previous_stage"})
    both = rows.merge(before.assign(**{CUSTOMER_ID: before[CUSTOMER_ID].astype(str)}), on=CUSTOMER_ID)
    moved = both[both["previous_stage"].str.endswith("_active") & both["lifecycle_stage"].str.endswith("_at_risk")]
    return by_value(moved[cols]).reset_index(drop=True)
