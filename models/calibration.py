"""Honest probabilities: isotonic calibration on the tuning snapshot, kept only when it lowers Brier.

The booster never trained on the tuning rows. Whether calibration helps is decided by 2-fold cross-fitting
on those rows (fit the isotonic map on one half, score the other), so the decision is not made on the
data it was fitted to; when it helps, the final map is fitted on all tuning rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold


def _cross_fitted_brier(p: np.ndarray, y: np.ndarray) -> float:
    out = np.empty_like(p)
    for fit, held in StratifiedKFold(2, shuffle=True, random_state=0).split(p.reshape(-1, 1), y):
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p[fit], y[fit])
        out[held] = iso.predict(p[held])
    return float(brier_score_loss(y, out))


def calibrate(model, X_tune: pd.DataFrame, y_tune: np.ndarray):
    """(model to use, what was decided): the isotonic-calibrated model if it lowers Brier, else the model."""
    p = model.predict_proba(X_tune)[:, 1]
    raw, iso = float(brier_score_loss(y_tune, p)), _cross_fitted_brier(p, y_tune)
    decision = {"brier_raw_tuning": raw, "brier_isotonic_tuning": iso}
    if iso < raw:
        calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="isotonic").fit(X_tune, y_tune)
        return calibrated, decision | {"method": "isotonic"}
    return model, decision | {"method": "none"}
