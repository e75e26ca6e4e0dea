"""A pandas reference of the customer feature table at one cutoff: the like-for-like peer of our query.

It computes the same columns as `segment.features.customer.customer_features` from the same prepared
relations (the clean `lines` and the `orders` built from them), following docs/features.md and the SQL
of features/catalogue.py, written the way a pandas user would: vectorised group-bys, no Python loops
over customers. The benchmark checks it equal to ours before timing it (bench/perf_peers.py), and
tests/test_perf_bench.py checks it on the bundled sample, so it cannot drift from the catalogue silently.
It covers the columns the generated data and Online Retail II carry (no `discount`, no `category`);
given lines with either, it refuses rather than return a table with fewer columns than ours.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from segment.schema import WINDOWS

KEYS = ["cutoff", "customer_id"]


def _orders_at(orders: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Orders at or before the cutoff (its whole day), with `age` in whole days to the cutoff."""
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    o = orders[orders["ts"] < end].copy()
    for col in ("net", "gross", "returned"):
        o[col] = o[col].astype(float)
    o["age"] = (pd.Timestamp(cutoff) - o["ts"].dt.normalize()).dt.days
    return o


def _purchases(o: pd.DataFrame) -> pd.DataFrame:
    """Purchase orders (gross > 0) with `gap`: days since the customer's previous purchase."""
    p = o[o["gross"] > 0].sort_values(["customer_id", "ts", "order_id"], kind="stable")
    previous = p.groupby("customer_id", sort=False)["ts"].shift()
    return p.assign(gap=(p["ts"] - previous).dt.total_seconds() / 86400.0)


def _window_counts(p: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Per customer: the counts and shares over purchases that the catalogue's windows use."""
    age = p["age"]
    flags = {f"orders_{w}d": age < w for w in WINDOWS}
    flags["prev_90d"] = (age >= 90) & (age < 180)
    flags["orders_same_window_last_year"] = (age >= 365 - horizon_days) & (age < 365)
    shares = {
        "same_season_share": (age % 365) >= 365 - horizon_days,
        "weekend_share": p["ts"].dt.day_of_week >= 5,  # Saturday 5, Sunday 6
    }
    g = pd.DataFrame({k: v.astype(float) for k, v in (flags | shares).items()}).assign(customer_id=p["customer_id"])
    grouped = g.groupby("customer_id", sort=False)
    return pd.concat([grouped[list(flags)].sum(), grouped[list(shares)].mean()], axis=1)


def _revenue_windows(o: pd.DataFrame) -> pd.DataFrame:
    """Per customer: net revenue of each window and of the 90 days before the last 90 (0 when none)."""
    age, net = o["age"], o["net"]
    cols = {f"revenue_{w}d": net.where(age < w, 0.0) for w in WINDOWS}
    cols["net_prev_90d"] = net.where((age >= 90) & (age < 180), 0.0)
    return pd.DataFrame(cols).assign(customer_id=o["customer_id"]).groupby("customer_id", sort=False).sum()


def _top_country(o: pd.DataFrame) -> pd.Series:
    """The most frequent non-null country over a customer's orders; a tie goes to the alphabetically first."""
    counts = o.dropna(subset=["country"]).groupby(["customer_id", "country"]).size().rename("n").reset_index()
    counts = counts.sort_values(["customer_id", "n", "country"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("customer_id").set_index("customer_id")["country"]


def _distinct_products(lines: pd.DataFrame, cutoff: date) -> pd.Series:
    """Distinct products (a missing product counts as one) first bought at or before the cutoff."""
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    bought = lines[(lines["amount"].astype(float) > 0) & (lines["timestamp"] < end)]
    return bought.groupby("customer_id", sort=False)["product_id"].nunique(dropna=False).astype(float)


def pandas_features(lines: pd.DataFrame, orders: pd.DataFrame, cutoff: date, horizon_days: int) -> pd.DataFrame:
    """One row per customer with a purchase at or before `cutoff`; the feature table's columns and order."""
    if {"discount", "category"} & set(lines.columns):
        raise ValueError("the pandas reference has no discount or category features; drop those columns")
    o = _orders_at(orders, cutoff)
    p = _purchases(o)
    by_p = p.groupby("customer_id", sort=False)
    n = by_p.size().astype(float)
    f = pd.DataFrame(
        {
            "recency_days": by_p["age"].min().astype(float),
            "frequency": n,
            "tenure_days": by_p["age"].max().astype(float),
            "gap_mean_days": by_p["gap"].mean(),
            "gap_std_days": by_p["gap"].std(ddof=1),
            "mean_order_value": by_p["gross"].sum() / n,
        }
    )
    by_o = o.groupby("customer_id", sort=False)
    f = f.join(by_o["net"].sum().rename("monetary"))
    f["monetary_mean"] = f["monetary"] / n
    f = f.join(_window_counts(p, horizon_days)).join(_revenue_windows(o))
    f["trend_orders_90d"] = f["orders_90d"] - f["prev_90d"]
    f["trend_revenue_90d"] = f["revenue_90d"] - f["net_prev_90d"]
    f["recency_over_gap"] = f["recency_days"] / f["gap_mean_days"].replace(0.0, np.nan)
    if "quantity" in lines.columns:
        f["items_per_order"] = by_p["items"].sum() / n
    f["return_rate"] = by_o["returned"].sum() / by_o["gross"].sum().replace(0.0, np.nan)
    f["cutoff_month"] = float(cutoff.month)
    if "product_id" in lines.columns:
        f["distinct_products"] = _distinct_products(lines, cutoff)
    if "country" in lines.columns:
        f["country"] = _top_country(o).reindex(f.index).fillna("unknown")
    f = f.reset_index().assign(cutoff=cutoff)
    return f.sort_values("customer_id", ignore_index=True)


def same_table(ours: pd.DataFrame, reference: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Raise AssertionError unless the two tables have the same rows, columns and values (floats to rtol)."""
    columns = list(ours.columns)
    missing = sorted(set(columns) - set(reference.columns))
    assert not missing, f"pandas reference lacks {missing}"
    a = ours.sort_values(KEYS, ignore_index=True)
    b = reference[columns].sort_values(KEYS, ignore_index=True).astype(a.dtypes.to_dict())
    pd.testing.assert_frame_equal(a, b, rtol=rtol, atol=1e-6, check_exact=False)
