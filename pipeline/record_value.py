"""Recording of the value and timing models (issue 18): nested runs, metrics, plots, champion decisions, cards.

Called by `record.record_train` inside the parent `train` run. Each model gets a nested run with its
metrics under stable names (`value_val_spearman`, `value_baseline_last_h_days_val_gini`,
`timing_val_mae_days`, ...), its plots and card; it is registered under the config prefix and becomes
champion through the same pending promotion as the other models (`tracking.promote_pending`, after
the whole train succeeded) when it matches or beats the current champion re-scored on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from segment.config import Config
from segment.errors import ModelRegistryError
from segment.models.timing import TimingResult
from segment.models.value import ValueResult
from segment.models.value_card import timing_card, value_card
from segment.models.value_metrics import challenger_wins, decile_table, lorenz_curve, timing_metrics, value_metrics
from segment.pipeline import plots, tracking
from segment.pipeline.valuing import ValueFits, model_name, value_metric_names
from segment.schema import TIMING_MODEL, registered_name


@dataclass
class ValueRecord:
    """What the value and timing models left: versions, champion decisions, figures and cards by model name."""

    versions: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # model or baseline -> metrics


def _champion(name: str, cfg: Config) -> tuple[Any, int | None]:
    """The current champion object (scikit-learn, checksums verified) and its version; None when there is none."""
    try:
        ref = tracking.champion(registered_name(cfg.tracking.model_prefix, name), tracking.tracking_uri(cfg.tracking))
    except ModelRegistryError:
        return None, None
    try:
        return tracking.load_sklearn(ref), ref.version
    except ModelRegistryError:  # a champion that cannot be loaded safely cannot defend its place
        return None, ref.version


def _decide(metric: str, new: float, old: float | None, version: int | None) -> tuple[bool, str]:
    """The challenge: no (usable) champion -> the new model; else it must match or beat the champion's metric."""
    if old is None or not np.isfinite(old):
        return True, f"promoted: {metric} {new:.4f}; no champion that can score these rows"
    wins = bool(np.isfinite(new)) and challenger_wins(metric, new, old)
    head = "promoted" if wins else f"champion v{version} kept"
    return wins, f"{head}: {metric} {new:.4f} vs champion v{version} {old:.4f} on the same validation rows"


def _usable(model: Any, columns) -> bool:
    return model is not None and set(getattr(model, "features", None) or ()) <= set(columns)


def challenge_value(result: ValueResult, name: str, cfg: Config) -> tuple[bool, str]:
    """Re-score the current value champion on the new validation rows; compare on `value.champion_metric`."""
    metric = cfg.value.champion_metric
    model, version = _champion(name, cfg)
    old = None
    if _usable(model, result.X_val.columns) and getattr(model, "horizon_days", None) == result.horizon_days:
        old = value_metrics(result.y_val, model.predict(result.X_val))[metric]
    return _decide(metric, result.metrics["model"][metric], old, version)


def challenge_timing(result: TimingResult, cfg: Config) -> tuple[bool, str]:
    """Re-score the current timing champion on the new validation rows; `value.timing_champion_metric`, lower wins."""
    metric = cfg.value.timing_champion_metric
    model, version = _champion(TIMING_MODEL, cfg)
    old = None
    if _usable(model, result.X_val.columns):
        days = model.expected_next_order_days(result.X_val)
        old = timing_metrics(result.actual_days, days, result.grid[-1], model.p_within(result.X_val)).get(metric)
    return _decide(metric, result.metrics["model"].get(metric, float("nan")), old, version)


def _value_run(exp: str, name: str, result: ValueResult, plan, cfg: Config, rec: ValueRecord) -> None:
    curves = {m: lorenz_curve(result.y_val, p) for m, p in result.scores.items()}
    figures = {
        f"plots/{name}_deciles.png": plots.value_deciles(decile_table(result.y_val, result.scores["model"]), name),
        f"plots/{name}_lorenz.png": plots.lorenz(curves, name),
    }
    metrics = value_metric_names(name, result.metrics)
    with tracking.run(exp, name, nested=True):
        tracking.log_params({f"{name}_{k}": v for k, v in result.rows.items()})
        tracking.log_params({f"{name}_kind": result.kind, f"{name}_horizon_days": result.horizon_days})
        tracking.log_params({f"{name}_features": len(result.features)})
        tracking.set_tags({f"{name}_note_{k}": v[:5000] for k, v in result.notes.items()})
        tracking.log_metrics(metrics)
        for file, fig in figures.items():
            tracking.log_figure(fig, file)
        tracking.log_frame(decile_table(result.y_val, result.scores["model"]), f"{name}_deciles.csv")
        reg = _register(name, result, challenge_value(result, name, cfg), partial(value_card, name, plan, result), cfg)
    _on_parent(name, metrics, reg, rec, result, figures)


def _timing_run(exp: str, result: TimingResult, plan, cfg: Config, rec: ValueRecord) -> None:
    name = TIMING_MODEL
    figures = {
        f"plots/{name}_calibration.png": plots.timing_calibration(result.actual_days, result.p_within["model"], name)
    }
    metrics = value_metric_names(name, result.metrics)
    with tracking.run(exp, name, nested=True):
        tracking.log_params({f"{name}_{k}": v for k, v in result.rows.items()})
        tracking.log_params(
            {f"{name}_grid_days": ",".join(map(str, result.grid)), f"{name}_features": len(result.features)}
        )
        tracking.set_tags({f"{name}_note_{k}": v[:5000] for k, v in result.notes.items()})
        tracking.log_metrics(metrics)
        for file, fig in figures.items():
            tracking.log_figure(fig, file)
        reg = _register(name, result, challenge_timing(result, cfg), partial(timing_card, name, plan, result), cfg)
    _on_parent(name, metrics, reg, rec, result, figures)


@dataclass(frozen=True)
class _Registered:
    version: int
    wins: bool
    decision: str
    card: str


def _register(name: str, result: Any, verdict: tuple[bool, str], card: Any, cfg: Config) -> _Registered:
    """In the model's nested run: the champion decision as tags, the registered version, its model card."""
    wins, decision = verdict
    tracking.set_tags({f"{name}_champion_decision": decision, f"{name}_is_champion": str(wins).lower()})
    full = registered_name(cfg.tracking.model_prefix, name)
    ref = tracking.log_and_register(result.model, full, result.X_example, predict_fn="predict", set_champion=wins)
    text = card(ref.version) + f"\n**Registry.** {decision}\n"
    tracking.log_text(text, "model_card.md")
    return _Registered(ref.version, wins, decision, text)


def _on_parent(
    name: str, metrics: dict[str, float], reg: _Registered, rec: ValueRecord, result: Any, figures: dict
) -> None:
    """The model's own metrics and decision on the parent run too, for comparing train runs; and in `rec`."""
    tracking.log_metrics({k: v for k, v in metrics.items() if k.startswith(f"{name}_val_")})
    tracking.set_tags({f"{name}_champion_decision": reg.decision, f"{name}_is_champion": str(reg.wins).lower()})
    rec.versions[name], rec.decisions[name], rec.figures[name], rec.cards[name] = (
        reg.version, reg.decision, figures, reg.card,
    )  # fmt: skip
    rec.metrics[name] = result.metrics


def record_values(exp: str, fits: ValueFits, cfg: Config) -> ValueRecord:
    """Nested `value` (one per horizon) and `timing` runs inside the active train run; skips as tags."""
    rec = ValueRecord()
    tracking.set_tags({k: v[:5000] for k, v in fits.notes.items()})
    first = cfg.value.horizon_days[0]
    for h, result in fits.value.items():
        _value_run(exp, model_name(h, h == first), result, fits.plans[h], cfg, rec)
    if fits.timing is not None:
        _timing_run(exp, fits.timing, fits.plans[first], cfg, rec)
    return rec
