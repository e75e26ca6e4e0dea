"""What the two HTML reports say: the train report for data scientists, the score summary for marketing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from segment.features.snapshots import SnapshotPlan
from segment.pipeline import plots, reports_value
from segment.pipeline.clean import DataReport
from segment.pipeline.htmlpage import Section, data_report_table, metrics_table, render
from segment.schema import CUSTOMER_ID, SCHEMES

TOP_AT_RISK = 20
BGNBD_MISSING = (
    "The BG/NBD baseline is not shown: models.bgnbd_baseline is false in this config. Set it to true "
    "(`--set models.bgnbd_baseline=true`) and retrain to compare the model with it."
)


def model_notes(by_model: dict[str, dict[str, float]]) -> list[str]:
    """What a model section says above its table, including which baseline is missing and how to add it."""
    notes = ["Validation snapshot; baselines are scored on the same customers."]
    if "bgnbd" not in by_model:
        notes.append(BGNBD_MISSING)
    return notes


def train_report(
    run_id: str,
    report: DataReport,
    plan: SnapshotPlan,
    profiles: dict[str, pd.DataFrame],
    segment_figures: dict[str, Any],
    stability: Any,
    metrics: dict[str, dict[str, dict[str, float]]],
    model_figures: dict[str, dict[str, Any]],
    experiment: str,
    cards: dict[str, str] | None = None,
    *,
    segmenter: Any = None,
    warnings: list[str] | None = None,
    extra: list[Section] | None = None,
) -> str:
    """Data report, segment profiles with plots, each model against its baselines; `extra` sections at the end.

    `segmenter` (the fitted `Segmenter`) says why its k won; `warnings` (a short history,
    lines dated in the future) are shown in the data section.
    """
    data = Section("Data").table(data_report_table(report.to_dict()))
    data.notes.append(
        f"{len(plan.train)} training snapshots ({plan.train[0]} .. {plan.train[-1]}), validation at "
        f"{', '.join(map(str, plan.validation))}, horizon {plan.horizon_days} days."
    )
    data.notes.extend(f"warning: {w}" for w in warnings or [])
    seg = Section("Segments")
    if segmenter is not None:
        seg.notes.append(f"K-means: {segmenter.k_reason_}")  # the segmenter records why its k won
    if stability.matched:
        seg.notes.append(
            f"Cluster ids matched to the champion segmenter: {stability.ids_moved} cluster id(s) remapped, "
            f"{stability.customers_moved_share:.1%} of customers in a different cluster than the champion put them."
        )
    for scheme, table in profiles.items():
        seg.table(table, caption=scheme.replace("_", " "))
    for name, fig in segment_figures.items():
        seg.figure(fig, name)
    sections = [data, seg]
    for target, by_model in metrics.items():
        s = Section(f"{target.capitalize()} model")
        s.notes.extend(model_notes(by_model))
        if cards and target in cards:
            s.markdown = cards[target]
        s.table(metrics_table(by_model))
        for name, fig in model_figures.get(target, {}).items():
            s.figure(fig, name)
        sections.append(s)
    return render("Training report", f"run {run_id} · experiment {experiment}", [*sections, *(extra or [])])


def _counts(table: pd.DataFrame, col: str, previous: pd.DataFrame | None) -> pd.DataFrame:
    now = table[col].value_counts().rename("customers")
    out = now.to_frame()
    if previous is not None and col in previous:
        before = previous[col].value_counts()
        out["previous"] = before.reindex(out.index).fillna(0).astype(int)
        out["change"] = out["customers"] - out["previous"]
    return out.rename_axis("segment").reset_index()


def slipping(table: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Customers active at the previous score date and at risk now, by lifecycle stage."""
    if previous is None:
        return pd.DataFrame(columns=["lifecycle_stage", "customers"])
    before = previous.set_index(CUSTOMER_ID)["lifecycle_stage"]
    now = table.set_index(CUSTOMER_ID)["lifecycle_stage"]
    both = pd.concat([before.rename("before"), now.rename("now")], axis=1, join="inner")
    moved = both[both["before"].str.endswith("_active") & both["now"].str.endswith("_at_risk")]
    return moved["now"].value_counts().rename_axis("lifecycle_stage").rename("customers").reset_index()


def top_at_risk(table: pd.DataFrame, n: int = TOP_AT_RISK) -> pd.DataFrame:
    """The most valuable customers with high churn risk: the first list a retention campaign needs."""
    cols = [CUSTOMER_ID, "monetary", "churn_probability", "rfm_segment", "cluster_name"]
    risky = table[table["churn_risk"] == "high"]
    return risky.sort_values(["monetary", CUSTOMER_ID], ascending=[False, True])[cols].head(n)


def score_summary(
    table: pd.DataFrame,
    score_date: date,
    previous: pd.DataFrame | None,
    prev_date: date | None,
    *,
    drift: dict[str, float] | None = None,
    drift_warn: float = 0.2,
    not_scored: int = 0,
    extra: list[Section] | None = None,
) -> str:
    """Segment sizes and their change since the previous score date, who is slipping, who to call first."""
    since = f"since {prev_date}" if prev_date else "(no earlier score date to compare with)"
    sizes = Section(f"Customers per segment {since}")
    rfm = _counts(table, "rfm_segment", previous)
    for scheme, col in SCHEMES.items():
        caption = scheme.replace("_", " ")
        sizes.table(rfm if col == "rfm_segment" else _counts(table, col, previous), caption=caption)
    sizes.figure(plots.segment_counts(rfm), "RFM segment sizes")
    moved = slipping(table, previous)
    slip = Section("Moved from active to at risk")
    n_moved = int(moved["customers"].sum()) if len(moved) else 0
    if previous is None:
        slip.notes.append("No earlier score date: nothing to compare.")
    else:
        slip.notes.append(f"{n_moved} customers were active on {prev_date} and are at risk now.")
    if len(moved):
        slip.table(moved)
    top = Section("Top at-risk high-value customers")
    top.notes.append(f"High churn risk, highest net spend first (top {TOP_AT_RISK}); ids only, no contact data.")
    top.table(top_at_risk(table), floats=2)
    health = Section("Data health")
    health.notes.append(f"{not_scored:,} customers in the data had no purchase on or before {score_date}: not scored.")
    if drift:
        moved = {f: v for f, v in drift.items() if v > drift_warn}
        if moved:
            health.notes.append(f"warning: {len(moved)} feature(s) drifted past PSI {drift_warn} since training.")
        psi_table = pd.DataFrame(sorted(drift.items(), key=lambda kv: -kv[1]), columns=["feature", "PSI"])
        health.table(psi_table.head(15), caption="population stability index against the training snapshot")
    subtitle = f"{len(table):,} customers scored"
    value = reports_value.score_section(table, score_date)  # value tiers, orders expected in 14 days
    return render(f"Segment summary {score_date}", subtitle, [sizes, value, slip, top, *(extra or []), health])
