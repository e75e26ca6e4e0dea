"""A model card per trained model: what it predicts, for whom, on which data, how well, from what."""

from __future__ import annotations

import pandas as pd

from segment.features.snapshots import SnapshotPlan
from segment.models.capped import TrainingSample, cap_notes

QUESTION = {
    "propensity": "Will this customer place an order in the next {h} days?",
    "churn": "Will this active customer (an order in the last {l} days) place no order in the next {h} days?",
}


def model_card(
    target: str,
    plan: SnapshotPlan,
    result,
    lookback_days: int,
    version: int | None = None,
    sample: TrainingSample | None = None,
    validation_sample: TrainingSample | None = None,
) -> str:
    """Markdown: question, population, data window, training design, metrics against baselines, top features.

    `sample`, `validation_sample`: the row caps, when they cut (said in the data paragraph).
    """
    h = plan.horizon_days
    rows = result.rows
    metrics = pd.DataFrame(result.metrics).T[["roc_auc", "pr_auc", "brier", "ece", "lift_top_decile"]]
    metric_lines = ["| model | ROC-AUC | PR-AUC | Brier | ECE | lift top decile |", "|---|---|---|---|---|---|"]
    metric_lines += [
        f"| {name} | {m.roc_auc:.3f} | {m.pr_auc:.3f} | {m.brier:.4f} | {m.ece:.3f} | {m.lift_top_decile:.2f} |"
        for name, m in metrics.iterrows()
    ]
    top = result.importance.head(10) if result.importance is not None else pd.Series(dtype=float)
    lines = [
        f"# Model card: {target}" + (f" (version {version})" if version else ""),
        "",
        f"**Question.** {QUESTION[target].format(h=h, l=lookback_days)}",
        "",
        "**Population.** "
        + (
            "Every customer with a purchase on or before the cutoff."
            if target == "propensity"
            else f"Customers with a purchase in the {lookback_days} days up to the cutoff."
        ),
        "",
        f"**Data.** {len(plan.train)} training cutoffs from {plan.train[0]} to {plan.train[-1]}, every "
        f"{(plan.train[1] - plan.train[0]).days if len(plan.train) > 1 else 0} days; validation cutoff "
        f"{', '.join(map(str, plan.validation))}; labels from the {h} days after each cutoff. "
        f"{rows.get('train_rows', 0):,} training rows, {rows.get('tuning_rows', 0):,} tuning rows (a fixed fifth "
        f"of the customers), {rows.get('validation_rows', 0):,} validation rows."
        + (f" {notes}" if (notes := cap_notes(sample, validation_sample)) else ""),
        "",
        f"**Model.** LightGBM ({rows.get('best_iteration', 0)} trees, early-stopped on the tuning rows of a "
        f"lagged booster); calibration: {result.calibration.get('method', 'none')}, fitted on "
        f"{rows.get('calibration_rows', 0):,} customers at {plan.train[-1]} (season step "
        f"{float(result.calibration.get('season_step', 0.0)):+.3f} log-odds). "
        + (
            "P(churn) = 1 - P(purchase) of the one purchase model. "
            if target == "churn"
            else "P(churn) for active customers is 1 - this probability. "
        )
        + "The registered model is refitted with these settings on every labelled cutoff up to the validation "
        "cutoff, its map learnt at the validation cutoff.",
        "",
        "**Validation metrics** (the validation snapshot was never used in fitting):",
        "",
        *metric_lines,
        "",
        "**Top features** (mean |SHAP| on the validation rows):",
        "",
        *[f"{i}. `{name}` ({value:.3f})" for i, (name, value) in enumerate(top.items(), 1)],
    ]
    notes = [f"- {v}" for v in result.notes.values()]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
