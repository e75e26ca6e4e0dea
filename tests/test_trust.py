"""Known answers for the metrics, deciles, risk bands and the gate; behaviour of a fitted purchase model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segment.config import GateConfig, LightGBMConfig
from segment.models.calibration import Complement
from segment.models.classifiers import fit_classifier
from segment.models.evaluation import deciles, expected_calibration_error, top_decile
from segment.models.gate import decide
from segment.pipeline.table import churn_risk, churn_risk_by_rank, propensity_decile


def test_ece_known_answer():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.7])
    # bins 0.1: 2 rows, rate 0 vs 0.1; 0.9: 1 row, 1 vs 0.9; 0.7: 1 row, 1 vs 0.7 -> .5*.1 + .25*.1 + .25*.3
    assert expected_calibration_error(y, p) == pytest.approx(0.15)


def test_lift_and_capture_on_ten_rows():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.9, 0.0, 10)  # the first row scores highest; the top 10 % is that one customer
    lift, capture = top_decile(y, p)
    assert lift == pytest.approx(1.0 / 0.2) and capture == pytest.approx(0.5)


def test_deciles_are_equal_even_when_every_score_ties():
    ids = np.array([f"c{i:04d}" for i in range(1003)])
    p = np.full(1003, 0.5)
    d = deciles(p, ids)
    sizes = np.bincount(d, minlength=11)[1:]
    assert sizes.min() >= 100 and sizes.max() <= 101  # 10 % +- 1 customer
    # the tie break is by id, not by row order: shuffled rows keep each customer's decile
    perm = np.random.default_rng(0).permutation(1003)
    assert (deciles(p[perm], ids[perm]) == d[perm]).all()
    # a higher score is never in a lower decile
    q = np.r_[np.full(500, 0.2), np.full(503, 0.7)]
    dq = deciles(q, ids)
    assert dq[500:].min() >= dq[:500].max()
    assert (propensity_decile(q, ids) == dq).all()


def test_risk_bands_by_threshold_and_by_rank():
    p = np.array([0.1, 0.3, 0.59, 0.6, 0.9])
    assert list(churn_risk(p, (0.3, 0.6))) == ["low", "medium", "medium", "high", "high"]
    ids = np.array([f"c{i}" for i in range(10)])
    bands = churn_risk_by_rank(np.full(10, 0.8), ids, (0.5, 0.8))  # all tied: sizes still 5 / 3 / 2
    assert (pd.Series(bands).value_counts()[["low", "medium", "high"]] == [5, 3, 2]).all()
    bands = churn_risk_by_rank(np.linspace(0, 1, 10), ids, (0.5, 0.8))
    assert list(bands[-2:]) == ["high", "high"] and list(bands[:5]) == ["low"] * 5


def _scores(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    good = 1 / (1 + np.exp(-2 * signal))
    weak = 1 / (1 + np.exp(-1 * (signal + rng.normal(scale=1.5, size=n))))
    return y, good, weak


def test_gate_bootstrap_margin_guard_and_baselines():
    y, good, weak = _scores()
    cfg = GateConfig(margin=0.0, bootstrap=100, max_ece=0.05, baselines=["rfm_logistic"])
    assert decide(y, good, weak, {"rfm_logistic": weak}, cfg).promote  # clearly better
    kept = decide(y, weak, good, {}, cfg.model_copy(update={"max_ece": 1.0}))  # the weak model is also off-level
    assert not kept.promote and kept.verdict == "champion kept" and "credibly worse" in kept.reason
    assert kept.auc_diff_low < 0
    lost = decide(y, good, weak, {"rfm_logistic": np.sqrt(good)}, cfg)  # same ranking as good: ties are fine
    assert lost.promote
    lost = decide(y, good, weak, {"rfm_logistic": good + 1e-3 * (y - 0.5)}, cfg)  # a baseline that ranks better
    assert not lost.promote and "below baseline rfm_logistic" in lost.reason
    shifted = np.clip(good + 0.2, 0, 1)  # same ranking, wrong level: the calibration guard stops it
    guard = decide(y, shifted, weak, {}, cfg)
    assert not guard.promote and "ECE" in guard.reason
    first = decide(y, shifted, None, {}, cfg)  # no champion: promoted, with the warning in the reason
    assert first.promote and first.verdict == "first model" and "ECE" in first.reason


def test_more_recency_never_lowers_churn_risk():
    """On a fitted model, all else equal, a customer who stayed away longer never has a lower churn risk."""
    rng = np.random.default_rng(3)
    n = 6000
    X = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 400, n).astype(float),
            "frequency": rng.integers(1, 30, n).astype(float),
            "country": rng.choice(["a", "b"], n),
        }
    )
    # a noisy, locally non-monotone truth: an unconstrained booster would copy the wiggle
    z = 1.5 - X["recency_days"] / 120 + 0.1 * X["frequency"] + 0.8 * np.sin(X["recency_days"] / 15)
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int))
    booster = fit_classifier(X[:5000], y[:5000], X[5000:], y[5000:], LightGBMConfig(n_estimators=300))
    churn = Complement(booster)
    base = X.sample(50, random_state=0)
    grid = np.arange(0, 400, 5.0)
    for _, row in base.iterrows():
        rows = pd.DataFrame([row] * len(grid)).assign(recency_days=grid)
        risk = churn.predict_proba(rows)[:, 1]
        assert (np.diff(risk) >= -1e-12).all()


def test_the_blend_keeps_both_rankings_and_recency_monotone():
    """Weights are never negative, so more recency (all else equal) never raises P(buy) of the blend."""
    from segment.models.bgnbd import BgNbdParams
    from segment.models.calibration import BlendModel, fit_blend_map

    rng = np.random.default_rng(5)
    n = 4000
    X = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 300, n).astype(float),
            "frequency": rng.integers(2, 30, n).astype(float),
            "tenure_days": 400.0,
            "purchase_days": rng.integers(2, 20, n).astype(float),
        }
    )
    z = 1.0 - X["recency_days"] / 100 + 0.05 * X["frequency"]
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int))
    cols = ["recency_days", "frequency", "tenure_days"]
    booster = fit_classifier(X[cols][:3000], y[:3000], X[cols][3000:], y[3000:], LightGBMConfig(n_estimators=200))
    params = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    model = BlendModel(booster, cols, params, 90, (1.0, 1.0, 0.0))
    raw, p_bg = model.parts(X)
    weights = fit_blend_map(raw, p_bg, y.to_numpy())
    assert min(weights[:2]) >= 0
    backwards = fit_blend_map(1 - raw, p_bg, y.to_numpy())  # a booster that ranks backwards is dropped
    assert backwards[0] == 0.0 and backwards[1] > 0
    model = BlendModel(booster, cols, params, 90, fit_blend_map(raw, p_bg, y.to_numpy()))
    grid = np.arange(0, 300, 10.0)
    for _, row in X.sample(30, random_state=1).iterrows():
        rows = pd.DataFrame([row] * len(grid)).assign(recency_days=grid)
        churn = Complement(model).predict_proba(rows)[:, 1]
        assert (np.diff(churn) >= -1e-12).all()
