"""Model building blocks on synthetic data whose right answer is known."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import brier_score_loss

from segment.config import LightGBMConfig
from segment.models.calibration import calibrate
from segment.models.classifiers import fit_classifier
from segment.models.evaluation import challenger_wins, cumulative_gain, shap_importance


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
    assert challenger_wins("pr_auc", 0.75, 0.75) and not challenger_wins("pr_auc", 0.74, 0.75)
    assert challenger_wins("brier", 0.18, 0.19) and not challenger_wins("ece", 0.05, 0.04)


def test_search_scores_on_tuning_rows_and_starts_from_the_given_config():
    from segment.config import SearchConfig
    from segment.models.search import SPACE, search  # Optuna comes with the dev extra

    X, y = _data(n=3000, seed=3)
    base = LightGBMConfig(n_estimators=150, num_leaves=2, min_child_samples=1000)  # a poor start: search beats it
    best, model, trials = search(X[:2000], y[:2000], X[2000:], y[2000:], base, SearchConfig(trials=6, seed=1))
    assert [t.number for t in trials] == list(range(6))
    assert {k: trials[0].params[k] for k in SPACE} == base.model_dump(include=set(SPACE))  # trial 0 is the base
    winner = min(trials, key=lambda t: t.tuning_log_loss)
    assert best.model_dump(include=set(SPACE)) == winner.params and winner.number != 0
    assert best.n_estimators == base.n_estimators  # what is not searched is kept
    # the reported score is the early-stopped booster's log loss on the tuning rows, recomputed here
    from sklearn.metrics import log_loss

    refit = fit_classifier(X[:2000], y[:2000], X[2000:], y[2000:], best)
    assert log_loss(y[2000:], refit.predict_proba(X[2000:])[:, 1]) == pytest.approx(winner.tuning_log_loss, rel=1e-6)
    # the returned model is the winner's own fit, not a refit that could differ
    assert np.array_equal(model.predict_proba(X[2000:]), refit.predict_proba(X[2000:]))


def test_search_without_optuna_is_a_clear_config_error(monkeypatch):
    import importlib.util

    from segment.config import SearchConfig
    from segment.errors import ConfigError
    from segment.models.search import ensure_available

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    ensure_available(SearchConfig(trials=0))  # no search, nothing needed
    with pytest.raises(ConfigError, match=r"models.search.trials is 3 but Optuna is not installed"):
        ensure_available(SearchConfig(trials=3))
