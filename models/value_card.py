"""Model cards of the value and timing models (issue 18): question, data, design, metrics against baselines."""

from __future__ import annotations

import pandas as pd

from segment.features.snapshots import SnapshotPlan
from segment.models.timing import TimingResult
from segment.models.value import ValueResult
from segment.models.value_metrics import decile_table

VALUE_COLUMNS = ("spearman", "gini", "top_decile_capture", "mae", "rmse", "bias")
TIMING_COLUMNS = ("mae_days", "skill", "dated_share", "mae_days_dated", "ece_30", "ece_90")


def metrics_markdown(metrics: dict[str, dict[str, float]], columns: tuple[str, ...]) -> list[str]:
    """A Markdown table: one row per model or baseline, the given metrics (blank where undefined)."""
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, m in metrics.items():
        cells = [f"{m[c]:.3f}" if c in m and pd.notna(m[c]) else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _data(plan: SnapshotPlan, rows: dict[str, int], label_days: int) -> str:
    return (
        f"**Data.** {len(plan.train)} training cutoffs from {plan.train[0]} to {plan.train[-1]}; validation cutoff "
        f"{', '.join(map(str, plan.validation))}; labels from the {label_days} days after each cutoff. "
        f"{rows.get('train_rows', 0):,} training rows, {rows.get('tuning_rows', 0):,} tuning rows (a fixed fifth "
        f"of the customers, early stopping), {rows.get('validation_rows', 0):,} validation rows." + _capped(rows)
    )


def _capped(rows: dict[str, int]) -> str:
    """Says when `models.max_training_rows` or `max_validation_rows` cut the rows (the fit saw a sample)."""
    out = ""
    available, sampled = rows.get("training_rows_available"), rows.get("training_rows_sampled")
    if available is not None and sampled is not None and sampled < available:
        out += (
            f" Training was capped (`models.max_training_rows`): a seeded sample of whole customers, {sampled:,} of "
            f"{available:,} training-cutoff rows."
        )
    available, sampled = rows.get("validation_rows_available"), rows.get("validation_rows")
    if available is not None and sampled is not None and sampled < available:
        out += (
            f" Validation was capped (`models.max_validation_rows`): a seeded sample of whole customers, {sampled:,} "
            f"of {available:,} validation-cutoff rows."
        )
    return out


def value_card(name: str, plan: SnapshotPlan, result: ValueResult, version: int | None = None) -> str:
    """Markdown card of a value model: what it predicts, design, metrics vs baselines, the decile table."""
    h = result.horizon_days
    design = (
        "one LightGBM booster with a Tweedie loss"
        if result.kind == "tweedie"
        else "a hurdle: P(buy) from a LightGBM classifier x E[spend | buy] from a gamma-loss booster"
    )
    deciles = decile_table(result.y_val, result.scores["model"])
    lines = [
        f"# Model card: {name}" + (f" (version {version})" if version else ""),
        "",
        f"**Question.** How much net revenue will this customer bring in the next {h} days?",
        "",
        "**Population.** Every customer with a purchase on or before the cutoff.",
        "",
        _data(plan, result.rows, h),
        "",
        f"**Model.** {design}, on the customer features plus the BG/NBD x Gamma-Gamma inputs. The label is the "
        f"net revenue of (t, t + {h}d] floored at 0 (returns in the window reduce it; "
        f"{result.rows.get('validation_negative_windows_per_mille', 0)} per mille of validation windows were "
        "negative and count as 0).",
        "",
        "**Validation metrics** (the validation snapshot was never used in fitting):",
        "",
        *metrics_markdown(result.metrics, VALUE_COLUMNS),
        "",
        "**By decile of the prediction** (1 = highest):",
        "",
        "| decile | customers | mean predicted | mean actual |",
        "|---|---|---|---|",
        *[f"| {r.decile} | {r.customers} | {r.predicted:.2f} | {r.actual:.2f} |" for r in deciles.itertuples()],
    ]
    notes = [f"- {v}" for v in result.notes.values()]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def timing_card(name: str, plan: SnapshotPlan, result: TimingResult, version: int | None = None) -> str:
    """Markdown card of the timing model: the grid, the date rule, metrics vs baselines."""
    n = result.grid[-1]
    lines = [
        f"# Model card: {name}" + (f" (version {version})" if version else ""),
        "",
        f"**Question.** When will this customer place the next order (within {n} days)?",
        "",
        "**Population.** Every customer with a purchase on or before the cutoff.",
        "",
        _data(plan, result.rows, n),
        "",
        f"**Model.** A discrete-time hazard (LightGBM classifier on person-period rows) gives P(next order within "
        f"d days) for d in {list(result.grid)}, non-decreasing in d. The expected next-order date is where the "
        f"curve reaches half its value at {n} days, given only when P(order within {n} days) is at least 50 %; "
        f"otherwise the customer is not expected within {n} days (no date).",
        "",
        "**Validation metrics** (median absolute error in days on customers who ordered again; skill against "
        "the best constant; ECE of P(within 30 / 90 days)):",
        "",
        *metrics_markdown(result.metrics, TIMING_COLUMNS),
    ]
    notes = [f"- {v}" for v in result.notes.values()]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
