"""Binary-classifier metrics with stable names, and the cheap baselines they are compared with."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

RFM_COLUMNS = ("recency_days", "frequency", "monetary")


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean prediction| over equal-width probability bins."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(err)


def top_decile(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(lift, capture) of the top 10% by score; ties broken by row order after a stable sort."""
    n = max(1, int(np.ceil(len(p) * 0.1)))
    top = np.argsort(-p, kind="stable")[:n]
    rate, base = y[top].mean(), y.mean()
    return float(rate / base if base > 0 else np.nan), float(y[top].sum() / y.sum() if y.sum() > 0 else np.nan)


def binary_metrics(y_true: pd.Series | np.ndarray, p: pd.Series | np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss, ECE, top-decile lift and capture, base and mean rates."""
    y, p = np.asarray(y_true, dtype=float), np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    two = len(np.unique(y)) == 2
    lift, capture = top_decile(y, p)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "lift_top_decile": lift,
        "capture_top_decile": capture,
        "base_rate": float(y.mean()),
        "mean_prediction": float(p.mean()),
    }


def recency_baseline(X: pd.DataFrame, *, positive_is_recent: bool) -> np.ndarray:
    """Score by recency rank alone: the rule of thumb every model must beat."""
    r = X["recency_days"].rank(pct=True).to_numpy()
    return 1 - r if positive_is_recent else r


def fit_rfm_logistic(X: pd.DataFrame, y: pd.Series):
    """Logistic regression on log-RFM: the classic analyst's model."""
    cols = list(RFM_COLUMNS)
    model = make_pipeline(
        FunctionTransformer(lambda d: np.sign(d) * np.log1p(np.abs(d))), StandardScaler(), LogisticRegression()
    )
    return model.fit(X[cols].to_numpy(dtype=float), y), cols


LOWER_IS_BETTER = {"brier", "log_loss", "ece"}


def challenger_wins(metric: str, new: float, champion: float) -> bool:
    """Whether the new model matches or beats the champion on `metric` (ties go to the newer model)."""
    return new <= champion if metric in LOWER_IS_BETTER else new >= champion


def shap_importance(booster, X: pd.DataFrame) -> pd.Series:
    """Mean |SHAP value| per input feature (LightGBM's own `pred_contrib`), largest first."""
    pre, model = booster.named_steps["pre"], booster.named_steps["model"]
    Xt = pre.transform(X)
    contrib = model.booster_.predict(Xt, pred_contrib=True, num_iteration=model.best_iteration_)
    values = np.abs(np.asarray(contrib)[:, :-1]).mean(axis=0)  # the last column is the bias
    return pd.Series(values, index=list(Xt.columns)).sort_values(ascending=False)


def cumulative_gain(y: np.ndarray, p: np.ndarray, bins: int = 10) -> np.ndarray:
    """Share of all positives captured in the top 10%, 20%, ... of customers by score."""
    order = np.argsort(-np.asarray(p), kind="stable")
    hits = np.cumsum(np.asarray(y)[order])
    cuts = np.ceil(np.arange(1, bins + 1) / bins * len(order)).astype(int) - 1
    return hits[cuts] / max(hits[-1], 1)


def deciles(p: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """1-10 by rank (10 = highest score), equal sizes: ties broken by id (or row order), so each holds 10 %.

    Sharing a decile among equal scores let one value fill 24 % of the customers; a deterministic tie
    break keeps every decile at n/10 (+-1 customer) and the same customer in the same decile on a re-run.
    """
    p = np.asarray(p, dtype=float)
    tie = np.arange(len(p)) if ids is None else np.asarray(ids).astype(str)
    order = np.lexsort((tie, -p))  # highest score first, then by id
    rank = np.empty(len(p), dtype=int)
    rank[order] = np.arange(len(p))
    return 10 - (rank * 10) // max(len(p), 1)
