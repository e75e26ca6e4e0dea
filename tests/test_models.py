"""Model building blocks on synthetic data whose right answer is known."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import brier_score_loss

from models.calibration import calibrate
from models.classifiers import fit_classifier
from models.evaluation import challenger_wins, cumulative_gain, shap_importance
from pipeline.config import LightGBMConfig


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n), "country": rng.choice(["a", "b"], n)})
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-2 * X["signal"]))).astype(int))
    return X, y


def test_shap_importance_finds_the_feature_that_matters():
    X, y = _data()
    model = fit_classifier(X[:3000], y[:3000], X[3000:], y[3000:], LightGBMConfig(n_estimators=200))
    imp = shap_importance(model, X[3000:])
    assert set(imp.index) == {"signal", "noise", "country"} and (imp >= 0).all()
    assert imp.index[0] == "signal" and imp["signal"] > 5 * imp["noise"]


class Overconfident(ClassifierMixin, BaseEstimator):
    """A fitted model whose probabilities are pushed to the extremes."""

    def fit(self, X, y):  # noqa: D102
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):  # noqa: D102
        p = 1 / (1 + np.exp(-8 * X["signal"].to_numpy()))
        return np.c_[1 - p, p]

    def predict(self, X):  # noqa: D102
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def test_isotonic_calibration_is_kept_only_when_it_helps():
    X, y = _data(seed=1)

    model, decision = calibrate(Overconfident().fit(X, y), X, y.to_numpy())
    assert decision["method"] == "isotonic" and decision["brier_isotonic_tuning"] < decision["brier_raw_tuning"]
    X2, y2 = _data(seed=2)
    raw = brier_score_loss(y2, Overconfident().predict_proba(X2)[:, 1])
    assert brier_score_loss(y2, model.predict_proba(X2)[:, 1]) < raw  # better on fresh data too


def test_cumulative_gain_and_the_champion_rule():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 10)
    perfect = cumulative_gain(y, y + 0.0)
    assert perfect[1] == pytest.approx(1.0) and perfect[-1] == pytest.approx(1.0)  # 20% of rows hold all positives
    assert np.all(np.diff(cumulative_gain(y, np.random.default_rng(0).uniform(size=100))) >= 0)
    assert challenger_wins("pr_auc", 0.75, 0.75) and not challenger_wins("pr_auc", 0.74, 0.75)
    assert challenger_wins("brier", 0.18, 0.19) and not challenger_wins("ece", 0.05, 0.04)
