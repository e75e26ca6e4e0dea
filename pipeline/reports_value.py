"""What the reports say about value and timing (issue 18): the train report's sections, the score summary's."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from segment.models.value import TIERS
from segment.models.value_card import TIMING_COLUMNS, VALUE_COLUMNS
from segment.pipeline.htmlpage import Section
from segment.schema import EXPECTED_NEXT_ORDER_DATE, EXPECTED_REVENUE, TIMING_MODEL, VALUE_MODEL, VALUE_TIER

SOON_DAYS = 14  # "expected to order in the next 14 days"
RETRAIN = (
    "no {what} champion is registered (the models were trained before value and timing existed): run "
    "`segment train` to add them; the {columns} column(s) are empty until then."
)


def metric_frame(metrics: dict[str, dict[str, float]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Model and baselines side by side, the given metrics."""
    return pd.DataFrame([{"model": n} | {c: m.get(c) for c in columns} for n, m in metrics.items()])


def train_sections(
    metrics: dict[str, dict[str, dict[str, float]]],
    cards: dict[str, str],
    figures: dict[str, dict[str, Any]],
    skipped: dict[str, str],
) -> list[Section]:
    """One section per value model (by horizon) and one for timing, each with its card; what was skipped."""
    out = []
    for name, by_model in metrics.items():
        s = Section(f"{name.replace('_', ' ').capitalize()} model")
        s.notes.append("Validation snapshot; baselines are scored on the same customers.")
        s.markdown = cards.get(name, "")
        s.table(metric_frame(by_model, TIMING_COLUMNS if name == TIMING_MODEL else VALUE_COLUMNS))
        for alt, fig in figures.get(name, {}).items():
            s.figure(fig, alt)
        out.append(s)
    if skipped:
        section = Section("Value and timing: skipped")
        section.notes.extend(skipped.values())
        out.append(section)
    return out


def has_model(model_versions: str, model: str) -> bool:
    """Whether the `model_versions` string of a segment table names a champion `model` (any config prefix)."""
    return any(v.rsplit(":", 1)[0].endswith(model) for v in str(model_versions).split(",") if v)


def soon_count(table: pd.DataFrame, score_date: date, days: int = SOON_DAYS) -> int:
    """Customers whose expected next-order date falls within `days` after the score date."""
    dates = pd.to_datetime(table[EXPECTED_NEXT_ORDER_DATE], errors="coerce")
    return int(((dates - pd.Timestamp(score_date)).dt.days <= days).sum())


def score_section(table: pd.DataFrame, score_date: date) -> Section:
    """Customers per value tier with their expected revenue, and how many are expected to order within 14 days."""
    s = Section("Value and next order")
    versions = str(table["model_versions"].iloc[0]) if len(table) else ""
    if not has_model(versions, VALUE_MODEL):
        s.notes.append(RETRAIN.format(what="value", columns=f"{EXPECTED_REVENUE}, {VALUE_TIER}, expected_orders"))
    else:
        g = table.groupby(VALUE_TIER)[EXPECTED_REVENUE]
        tiers = pd.DataFrame({"customers": g.size(), "expected_revenue": g.sum()}).reindex(TIERS[::-1]).fillna(0)
        tiers["share"] = tiers["customers"] / max(len(table), 1)
        s.notes.append(f"Expected net revenue of all customers: {np.nansum(table[EXPECTED_REVENUE]):,.0f}.")
        s.table(tiers.rename_axis(VALUE_TIER).reset_index(), caption="customers per value tier", floats=2)
    if not has_model(versions, TIMING_MODEL):
        s.notes.append(RETRAIN.format(what="timing", columns=EXPECTED_NEXT_ORDER_DATE))
    else:
        n = soon_count(table, score_date)
        s.notes.append(
            f"{n:,} customers are expected to order in the next {SOON_DAYS} days (by {EXPECTED_NEXT_ORDER_DATE})."
        )
    return s
