"""The champion gate: whether a new model may take the `champion` alias, decided on the validation customers.

Three checks, in order, each with the reason it gives:
1. calibration guard: validation ECE at most `max_ece` (a model with the right ranking and the wrong
   level would mislead every threshold set on its probabilities);
2. baselines: ROC-AUC at least that of every baseline in `baselines` on the same customers (a model
   that loses to logistic regression on RFM has no business being deployed);
3. the champion: a paired bootstrap over the validation customers of ROC-AUC(new) - ROC-AUC(champion);
   the new model wins unless it is credibly worse: the 5 % point of the difference must be at least
   -`margin`. A model refitted on newer labels is preferred to an equal one, never to a better one.
A first model (no champion, or a champion that cannot score today's inputs) is promoted even when a check
fails, so scoring has a model; the reason then says which check failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from segment.config import GateConfig
from segment.models.evaluation import expected_calibration_error


@dataclass(frozen=True)
class GateDecision:
    """The verdict with its numbers (for the run's tags and the model card)."""

    promote: bool
    verdict: str  # "first model", "new model wins" or "champion kept"
    reason: str
    auc_diff: float = float("nan")  # new - champion on the validation customers
    auc_diff_low: float = float("nan")  # its bootstrap 5 % point


def bootstrap_auc_diff(y: np.ndarray, new: np.ndarray, old: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """ROC-AUC(new) - ROC-AUC(old) on `n` paired resamples of the customers (resamples with one class skipped)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() != y[i].max():
            out.append(roc_auc_score(y[i], new[i]) - roc_auc_score(y[i], old[i]))
    return np.asarray(out)


def decide(
    y: np.ndarray,
    new: np.ndarray,
    champion: np.ndarray | None,
    baselines: dict[str, np.ndarray],
    cfg: GateConfig,
) -> GateDecision:
    """Apply the guard, the baselines and the bootstrap margin (module doc); `champion` None = no champion."""
    y, new = np.asarray(y, dtype=int), np.asarray(new, dtype=float)
    failures = []
    ece = expected_calibration_error(y, new)
    # the guard refuses a model calibrated worse than both the guard and the champion: a champion above the
    # guard (a hard season) can still be replaced by a better-calibrated model
    bar = (
        max(cfg.max_ece, expected_calibration_error(y, np.asarray(champion, dtype=float)))
        if champion is not None
        else cfg.max_ece
    )
    if ece > bar:
        failures.append(f"validation ECE {ece:.3f} above the guard {bar:.3f}")
    auc = roc_auc_score(y, new)
    for name in cfg.baselines:
        if name in baselines and roc_auc_score(y, baselines[name]) > auc:
            failures.append(f"ROC-AUC {auc:.4f} below baseline {name} {roc_auc_score(y, baselines[name]):.4f}")
    if champion is None:
        note = "; ".join(failures)
        return GateDecision(True, "first model", "no champion to beat" + (f" (warning: {note})" if note else ""))
    if failures:
        return GateDecision(False, "champion kept", "; ".join(failures))
    champion = np.asarray(champion, dtype=float)
    diffs = bootstrap_auc_diff(y, new, champion, cfg.bootstrap)
    diff, low = float(auc - roc_auc_score(y, champion)), float(np.percentile(diffs, 5))
    numbers = f"ROC-AUC {diff:+.4f} vs champion (bootstrap 5 % point {low:+.4f}, margin {cfg.margin:.4f})"
    if low >= -cfg.margin:
        return GateDecision(True, "new model wins", numbers, diff, low)
    return GateDecision(False, "champion kept", f"credibly worse, {numbers}", diff, low)
