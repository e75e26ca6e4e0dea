"""The feature catalogue: every customer feature with its definition, unit, needed column and SQL.

Declared once here. Each feature's expression lives with its entry, so the feature query is generated
from the catalogue (`features.customer.feature_sql`): the catalogue and the query cannot disagree.
Expressions are over *aggregates*, per (cutoff, customer) sums and counts declared below, each computed
from one source relation: purchase orders (gross > 0), all orders (returns included), or the lines.
`python -m segment.features.catalogue` writes docs/features.md; train logs the same page.
All features of a snapshot see only order lines at or before the cutoff (its whole day included).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from segment.schema import WINDOWS

DOC = Path(__file__).resolve().parents[1] / "docs" / "features.md"


@dataclass(frozen=True)
class Aggregate:
    """One per-(cutoff, customer) aggregate over a source relation; `{h}` is the horizon in days.

    Sources: `purchases` (purchase orders at or before the cutoff, with `age` in days, `gap` in days
    since the customer's previous purchase, `ts`), `orders` (every order, returns included, with `age`),
    `products` / `categories` (first purchase of each distinct product / category), `category_value`.
    """

    name: str
    source: str
    sql: str
    needs: str | None = None  # a canonical input column; None = always available


@dataclass(frozen=True)
class Feature:
    """One column of the customer feature table (or of the segment table, for the RFM scores)."""

    name: str
    group: str
    definition: str
    unit: str
    sql: str = ""  # expression over aggregates; "" for the scores, which are ranked in pandas
    needs: str | None = None  # an optional input column; None = always available
    table: str = "features"  # "features" (model input) or "segment table"
    text: bool = False  # a categorical text column, not a number


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("n_purchases", "purchases", "count(*)"),
    Aggregate("min_age", "purchases", "min(age)"),
    Aggregate("max_age", "purchases", "max(age)"),
    Aggregate("gross_purchases", "purchases", "sum(gross)"),
    Aggregate("items", "purchases", "sum(items)", needs="quantity"),
    Aggregate("gap_mean", "purchases", "avg(gap)"),
    Aggregate("gap_std", "purchases", "stddev_samp(gap)"),
    *(Aggregate(f"purchases_{w}d", "purchases", f"count(*) FILTER (WHERE age < {w})") for w in WINDOWS),
    Aggregate("purchases_prev_90d", "purchases", "count(*) FILTER (WHERE age >= 90 AND age < 180)"),
    Aggregate("purchases_last_year_window", "purchases", "count(*) FILTER (WHERE age >= 365 - {h} AND age < 365)"),
    Aggregate("season_share", "purchases", "avg(CASE WHEN age % 365 >= 365 - {h} THEN 1.0 ELSE 0.0 END)"),
    Aggregate("weekend", "purchases", "avg(CASE WHEN dayofweek(ts) IN (0, 6) THEN 1.0 ELSE 0.0 END)"),
    Aggregate("net", "orders", "sum(net)"),
    Aggregate("gross_all", "orders", "sum(gross)"),
    Aggregate("returned", "orders", "sum(returned)"),
    Aggregate("discount", "orders", "sum(discount)", needs="discount"),
    *(Aggregate(f"net_{w}d", "orders", f"coalesce(sum(net) FILTER (WHERE age < {w}), 0)") for w in WINDOWS),
    Aggregate("net_prev_90d", "orders", "coalesce(sum(net) FILTER (WHERE age >= 90 AND age < 180), 0)"),
    # ORDER BY makes ties deterministic (the alphabetically first wins); plain mode() picks any of them
    Aggregate("top_country", "orders", "mode(country ORDER BY country)", needs="country"),
    Aggregate("n_products", "products", "count(*)", needs="product_id"),
    Aggregate("n_categories", "categories", "count(*)", needs="category"),
    Aggregate("top_category_value_share", "category_value", "max(v) / nullif(sum(v), 0)", needs="category"),
)

CATALOGUE: tuple[Feature, ...] = (
    Feature(
        "recency_days",
        "RFM",
        "days from the last purchase to the cutoff (0 = bought on the cutoff day)",
        "days",
        "min_age",
    ),
    Feature(
        "frequency", "RFM", "number of purchase orders (orders with positive gross value)", "orders", "n_purchases"
    ),
    Feature("monetary", "RFM", "net revenue: purchases minus returns, all time", "currency", "net"),
    Feature("monetary_mean", "RFM", "net revenue per purchase order", "currency", "net / n_purchases"),
    Feature(
        "tenure_days", "RFM", "days from the first purchase to the cutoff (days since first order)", "days", "max_age"
    ),
    *(
        Feature(f"orders_{w}d", "Windows", f"purchase orders in the last {w} days", "orders", f"purchases_{w}d")
        for w in WINDOWS
    ),
    *(
        Feature(f"revenue_{w}d", "Windows", f"net revenue in the last {w} days", "currency", f"net_{w}d")
        for w in WINDOWS
    ),
    Feature(
        "trend_orders_90d",
        "Windows",
        "orders in the last 90 days minus orders in the 90 days before",
        "orders",
        "purchases_90d - purchases_prev_90d",
    ),
    Feature(
        "trend_revenue_90d",
        "Windows",
        "net revenue of the last 90 days minus the 90 days before",
        "currency",
        "net_90d - net_prev_90d",
    ),
    Feature(
        "orders_same_window_last_year",
        "Timing",
        "purchase orders one year before the coming horizon (same calendar window, last year)",
        "orders",
        "purchases_last_year_window",
    ),
    Feature(
        "gap_mean_days", "Rhythm", "mean days between consecutive purchases (NaN with one purchase)", "days", "gap_mean"
    ),
    Feature(
        "gap_std_days",
        "Rhythm",
        "standard deviation of days between purchases (NaN below three)",
        "days",
        "gap_std",
    ),
    Feature(
        "recency_over_gap",
        "Rhythm",
        "recency divided by the mean gap: >1 means overdue",
        "ratio",
        "min_age / nullif(gap_mean, 0)",
    ),
    Feature(
        "mean_order_value",
        "Basket",
        "gross purchase value per purchase order",
        "currency",
        "gross_purchases / n_purchases",
    ),
    Feature(
        "items_per_order", "Basket", "units bought per purchase order", "units", "items / n_purchases", needs="quantity"
    ),
    Feature(
        "return_rate",
        "Basket",
        "returned value divided by gross purchase value",
        "ratio 0-1",
        "returned / nullif(gross_all, 0)",
    ),
    Feature(
        "discount_share",
        "Basket",
        "discount value divided by gross purchase value",
        "ratio 0-1",
        "discount / nullif(gross_all, 0)",
        needs="discount",
    ),
    Feature("weekend_share", "Timing", "share of purchase orders placed on Saturday or Sunday", "ratio 0-1", "weekend"),
    Feature(
        "same_season_share",
        "Timing",
        "month-of-year seasonality: share of purchase orders in the calendar window of the coming horizon "
        "in earlier years",
        "ratio 0-1",
        "season_share",
    ),
    Feature(
        "cutoff_month",
        "Timing",
        "calendar month of the cutoff: the season of the coming horizon, learnt from earlier snapshots",
        "month 1-12",
        "month(cutoff)",
    ),
    Feature("distinct_products", "Basket", "distinct products bought", "products", "n_products", needs="product_id"),
    Feature(
        "distinct_categories",
        "Basket",
        "distinct product categories bought",
        "categories",
        "n_categories",
        needs="category",
    ),
    Feature(
        "top_category_share",
        "Basket",
        "share of gross value in the customer's top category",
        "ratio 0-1",
        "top_category_value_share",
        needs="category",
    ),
    Feature(
        "country",
        "Timing",
        "the customer's most frequent country over its orders (categorical; a tie goes to the alphabetically first)",
        "text",
        "coalesce(top_country, 'unknown')",
        needs="country",
        text=True,
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
    """Features of the feature table that the mapped input columns allow, in catalogue order."""
    return [f for f in CATALOGUE if f.table == "features" and (f.needs is None or f.needs in mapped)]


def left_out(mapped: set[str]) -> list[Feature]:
    """Features of the feature table left out because the column they need is not mapped."""
    return [f for f in CATALOGUE if f.table == "features" and f.needs is not None and f.needs not in mapped]


def aggregates(mapped: set[str]) -> list[Aggregate]:
    """Aggregates the mapped input columns allow."""
    return [a for a in AGGREGATES if a.needs is None or a.needs in mapped]


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
