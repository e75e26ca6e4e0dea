"""The feature catalogue: every customer feature with its definition, unit and the column it needs.

Declared once here; `python -m segment.features.catalogue` writes docs/features.md, train logs the same page as
an artifact, and a test checks that the catalogue and the feature query produce exactly the same columns.
All features of a snapshot see only order lines at or before the cutoff (its whole day included).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
DOC = Path(__file__).resolve().parents[1] / "docs" / "features.md"


@dataclass(frozen=True)
class Feature:
    """One column of the customer feature table (or of the segment table, for the RFM scores)."""

    name: str
    group: str
    definition: str
    unit: str
    needs: str | None = None  # an optional input column; None = always available
    table: str = "features"  # "features" (model input) or "segment table"


_W = (30, 90, 180, 365)
CATALOGUE: tuple[Feature, ...] = (
    Feature("recency_days", "RFM", "days from the last purchase to the cutoff (0 = bought on the cutoff day)", "days"),
    Feature("frequency", "RFM", "number of purchase orders (orders with positive gross value)", "orders"),
    Feature("monetary", "RFM", "net revenue: purchases minus returns, all time", "currency"),
    Feature("monetary_mean", "RFM", "net revenue per purchase order", "currency"),
    Feature("tenure_days", "RFM", "days from the first purchase to the cutoff (days since first order)", "days"),
    *(Feature(f"orders_{w}d", "Windows", f"purchase orders in the last {w} days", "orders") for w in _W),
    *(Feature(f"revenue_{w}d", "Windows", f"net revenue in the last {w} days", "currency") for w in _W),
    Feature("trend_orders_90d", "Windows", "orders in the last 90 days minus orders in the 90 days before", "orders"),
    Feature("trend_revenue_90d", "Windows", "net revenue of the last 90 days minus the 90 days before", "currency"),
    Feature(
        "orders_same_window_last_year",
        "Timing",
        "purchase orders one year before the coming horizon (same calendar window, last year)",
        "orders",
    ),
    Feature("gap_mean_days", "Rhythm", "mean days between consecutive purchases (NaN with one purchase)", "days"),
    Feature("gap_std_days", "Rhythm", "standard deviation of days between purchases (NaN below three)", "days"),
    Feature("recency_over_gap", "Rhythm", "recency divided by the mean gap: >1 means overdue", "ratio"),
    Feature("mean_order_value", "Basket", "gross purchase value per purchase order", "currency"),
    Feature("items_per_order", "Basket", "units bought per purchase order", "units", needs="quantity"),
    Feature("return_rate", "Basket", "returned value divided by gross purchase value", "ratio 0-1"),
    Feature("discount_share", "Basket", "discount value divided by gross purchase value", "ratio 0-1", "discount"),
    Feature("weekend_share", "Timing", "share of purchase orders placed on Saturday or Sunday", "ratio 0-1"),
    Feature(
        "same_season_share",
        "Timing",
        "month-of-year seasonality: share of purchase orders in the calendar window of the coming horizon "
        "in earlier years",
        "ratio 0-1",
    ),
    Feature(
        "cutoff_month",
        "Timing",
        "calendar month of the cutoff: the season of the coming horizon, learnt from earlier snapshots",
        "month 1-12",
    ),
    Feature("distinct_products", "Basket", "distinct products bought", "products", needs="product_id"),
    Feature("distinct_categories", "Basket", "distinct product categories bought", "categories", needs="category"),
    Feature(
        "top_category_share",
        "Basket",
        "share of gross value in the customer's top category",
        "ratio 0-1",
        needs="category",
    ),
    Feature(
        "country",
        "Timing",
        "the customer's most frequent country over its orders (categorical; a tie goes to the alphabetically first)",
        "text",
        needs="country",
    ),
    Feature(
        "r_score", "Scores", "recency quintile 1-5 within the cutoff, 5 = most recent", "score", table="segment table"
    ),
    Feature(
        "f_score", "Scores", "frequency quintile 1-5 within the cutoff, 5 = most orders", "score", table="segment table"
    ),
    Feature(
        "m_score", "Scores", "net revenue quintile 1-5 within the cutoff, 5 = highest", "score", table="segment table"
    ),
)


def available(mapped: set[str]) -> list[Feature]:
    """Features of the feature table that the mapped columns allow; logs what is left out and why."""
    kept = [f for f in CATALOGUE if f.table == "features" and (f.needs is None or f.needs in mapped)]
    left_out = [f for f in CATALOGUE if f.table == "features" and f.needs is not None and f.needs not in mapped]
    for f in left_out:
        log.info("feature %s left out: column %s is not mapped", f.name, f.needs)
    return kept


def markdown() -> str:
    """The catalogue as a Markdown page."""
    lines = [
        "# Feature catalogue",
        "",
        "Generated by `python -m segment.features.catalogue` from `features/catalogue.py`; do not edit by hand.",
        "Every feature at a cutoff sees only order lines at or before the cutoff (its whole day included);",
        "a purchase order is an order with positive gross value; returns count as negative revenue.",
        f"{sum(f.table == 'features' for f in CATALOGUE)} features in the feature table "
        f"(model inputs) and {sum(f.table != 'features' for f in CATALOGUE)} scores in the segment table.",
        "",
        "| feature | group | definition | unit | needs column | table |",
        "|---|---|---|---|---|---|",
    ]
    for f in CATALOGUE:
        lines.append(f"| `{f.name}` | {f.group} | {f.definition} | {f.unit} | {f.needs or '-'} | {f.table} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(markdown())
    sys.stdout.write(f"wrote {DOC} ({len(CATALOGUE)} entries)\n")
