"""Honest probabilities: a smooth monotone map fitted out of time, and a season step set by design.

The map is logistic on the booster's log-odds, p = sigmoid(slope * logit(raw) + intercept + season): two
parameters, strictly increasing, so it keeps the booster's ranking and every distinct raw score stays a
distinct probability (isotonic regression made steps: 40 distinct values on the sample, 219 customers
at exactly 1.0). It is fitted on a cutoff *later* than any the booster was fitted on (training.py), so
it learns how far the level moved since the booster's data, not how well the booster fits itself.

`season` is a log-odds step from the calibration window to the predicted one, read from the same two
calendar windows one year earlier (see `season_step`); 0 when there is no such year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from segment.models import bgnbd

EPS = 1e-15  # only clips exact 0 and 1: a wider clip would merge distinct extreme scores


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Inverse of `logit`."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def fit_logit_map(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the logistic map on log-odds (nearly unpenalised; slope kept positive)."""
    lr = LogisticRegression(C=1e4).fit(logit(raw).reshape(-1, 1), np.asarray(y, dtype=int))
    slope, intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if slope <= 0:  # a map that reverses the ranking is never right: fall back to a level shift
        slope = 1.0
        intercept = float(logit(np.mean(y))[()] - logit(np.mean(raw))[()])
    return slope, intercept


class CalibratedModel:
    """A fitted classifier pipeline with the logistic map on its log-odds: `predict_proba` like sklearn's."""

    def __init__(self, booster, slope: float, intercept: float, season: float = 0.0):
        self.booster, self.slope, self.intercept, self.season = booster, slope, intercept, season
        self.classes_ = np.array([0, 1])

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's uncalibrated probability of the positive class."""
        return self.booster.predict_proba(X)[:, 1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated [P(0), P(1)] per row."""
        p = sigmoid(self.slope * logit(self.raw(X)) + self.intercept + self.season)
        return np.c_[1 - p, p]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where P(1) > 0.5."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


class Complement:
    """The other side of a binary question: churn = no purchase, so P(churn) = 1 - P(purchase), one model."""

    def __init__(self, model):
        self.model = model
        self.classes_ = np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[P(buys), P(churns)] per row: the purchase model's columns swapped."""
        return self.model.predict_proba(X)[:, ::-1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where P(churn) > 0.5."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def cross_fitted_brier(raw: np.ndarray, y: np.ndarray) -> float:
    """Brier of the logistic map fitted on one half of the rows and scored on the other (2 folds)."""
    out = np.empty_like(raw, dtype=float)
    for fit, held in StratifiedKFold(2, shuffle=True, random_state=0).split(raw.reshape(-1, 1), y):
        slope, intercept = fit_logit_map(raw[fit], y[fit])
        out[held] = sigmoid(slope * logit(raw[held]) + intercept)
    return float(brier_score_loss(y, out))


def calibrate(model, X_cal: pd.DataFrame, y_cal: np.ndarray, season: float = 0.0):
    """(calibrated model, what was measured): the logistic map fitted on out-of-time rows `X_cal`.

    The map is always applied (the level of a later cutoff is what it is for); the cross-fitted Brier
    against the raw one is recorded so the run shows what it bought.
    """
    raw = model.predict_proba(X_cal)[:, 1]
    y_cal = np.asarray(y_cal, dtype=int)
    slope, intercept = fit_logit_map(raw, y_cal)
    decision = {
        "brier_raw_calibration": float(brier_score_loss(y_cal, raw)),
        "brier_mapped_calibration": cross_fitted_brier(raw, y_cal),
        "slope": slope,
        "intercept": intercept,
        "season_step": float(season),
        "method": "logistic on log-odds, out of time",
    }
    return CalibratedModel(model, slope, intercept, season), decision


def fit_blend_map(raw: np.ndarray, p_bgnbd: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(weight of the booster's log-odds, weight of BG/NBD's, intercept): logistic regression on the two."""
    Z = np.c_[logit(raw), logit(p_bgnbd)]
    lr = LogisticRegression(C=1e4).fit(Z, np.asarray(y, dtype=int))
    w_raw, w_bg = (float(w) for w in lr.coef_[0])
    if w_raw < 0 or w_bg < 0:  # a negative weight would reverse one input's ranking: keep the other alone
        keep = 0 if w_raw >= w_bg else 1
        one = LogisticRegression(C=1e4).fit(Z[:, [keep]], np.asarray(y, dtype=int))
        w = max(float(one.coef_[0, 0]), 0.0)
        return (w, 0.0, float(one.intercept_[0])) if keep == 0 else (0.0, w, float(one.intercept_[0]))
    return w_raw, w_bg, float(lr.intercept_[0])


class BlendModel:
    """The booster and BG/NBD blended on log-odds, weights fitted out of time: `predict_proba` like sklearn's.

    BG/NBD's parameters are stored (fitted without labels on every customer at the latest labelled
    cutoff); its inputs come from the rows: `purchase_days`, `recency_days`, `tenure_days`.
    """

    def __init__(self, booster, features: list[str], bgnbd_params, horizon_days: int, weights, season: float = 0.0):
        # parameters as plain floats (r, alpha, a, b): the skops store needs no extra trusted type
        self.booster, self.features = booster, list(features)
        self.bgnbd_params = tuple(
            float(v) for v in (bgnbd_params.r, bgnbd_params.alpha, bgnbd_params.a, bgnbd_params.b)
        )
        self.horizon_days, self.weights, self.season = int(horizon_days), tuple(weights), float(season)
        self.classes_ = np.array([0, 1])

    def parts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(booster's raw P(buy), BG/NBD's P(buy)) per row."""
        raw = self.booster.predict_proba(X[self.features])[:, 1]
        params = bgnbd.BgNbdParams(*self.bgnbd_params)
        p_bg = 1.0 - bgnbd.probability_no_purchase(params, *bgnbd.summary_from_features(X), self.horizon_days)
        return raw, p_bg

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated [P(0), P(1)] per row."""
        raw, p_bg = self.parts(X)
        w_raw, w_bg, intercept = self.weights
        p = sigmoid(w_raw * logit(raw) + w_bg * logit(p_bg) + intercept + self.season)
        return np.c_[1 - p, p]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where P(1) > 0.5."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)
