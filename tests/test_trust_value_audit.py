"""Items of issues 17 and 18 that no other test pinned down, each on the real sample or its trained store.

Churn and propensity cannot contradict each other; per-snapshot constants are never model inputs; the
registered classifier is the refit, not the evaluated model; value and timing are registered with
signatures; the value champion's metric comes from the config.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segment.models.splits import model_inputs
from segment.pipeline.record_value import challenge_value
from segment.pipeline.score import score
from segment.schema import LABEL_COLUMNS, PURCHASE_DAYS, SEASON_CONSTANTS


def test_scored_churn_is_exactly_one_minus_purchase(trained):
    _, cfg, _ = trained
    table = score(cfg).table
    assert len(table) > 100
    np.testing.assert_allclose(table["churn_probability"] + table["purchase_probability"], 1.0, atol=1e-12)
    assert table["purchase_probability"].nunique() > 0.2 * len(table)  # not a few coarse steps (issue 17)


def test_model_inputs_leave_out_labels_purchase_days_and_per_snapshot_constants(trained):
    _, _, result = trained
    snaps = result.result.snapshots.labelled
    assert set(SEASON_CONSTANTS) <= set(snaps.columns) and PURCHASE_DAYS in snaps  # the columns exist ...
    inputs = model_inputs(snaps)
    assert not set(inputs) & {*SEASON_CONSTANTS, PURCHASE_DAYS, *LABEL_COLUMNS}  # ... and no model sees them
    assert "cutoff_month" in SEASON_CONSTANTS and "recency_days" in inputs


def test_the_registered_classifier_is_the_refit_not_the_evaluated_model(trained):
    _, _, result = trained
    fit = result.result.fits["propensity"]
    assert fit.evaluated is not None and fit.model is not fit.evaluated
    registered = fit.model.predict_proba(fit.X_val)[:, 1]
    evaluated = fit.evaluated.predict_proba(fit.X_val)[:, 1]
    assert not np.allclose(registered, evaluated)  # trained one horizon later, on the validation labels too
    assert np.corrcoef(registered, evaluated)[0, 1] > 0.8  # the same procedure, so much the same ranking


def test_value_and_timing_are_registered_with_signatures(trained):
    import mlflow

    _, cfg, result = trained
    for name in ("value", "timing"):
        info = mlflow.models.get_model_info(f"models:/{name}/{result.versions[name]}")
        assert info.signature is not None and info.signature.inputs is not None
        inputs = {c.name for c in info.signature.inputs.inputs}
        assert {"recency_days", "btyd_expected_purchases"} <= inputs


def test_the_value_challenge_uses_the_configured_metric(trained):
    _, cfg, result = trained
    fit = result.result.values.value[90]
    for metric in ("spearman", "mae"):
        chosen = cfg.model_copy(update={"value": cfg.value.model_copy(update={"champion_metric": metric})})
        _, decision = challenge_value(fit, "value", chosen)
        assert f": {metric} " in decision and f"{fit.metrics['model'][metric]:.4f}" in decision


def test_expected_orders_is_a_count_of_purchase_days_that_grows_with_past_purchases(trained):
    _, cfg, _ = trained
    table = score(cfg).table
    assert (table["expected_orders"] >= 0).all() and table["expected_orders"].max() > 1.0  # a count, not a P
    by_freq = table.groupby(pd.qcut(table["frequency"], 3, duplicates="drop"), observed=True)["expected_orders"]
    means = by_freq.mean().to_numpy()
    assert means[0] < means[-1]  # BG/NBD: more past purchase days, more expected ones on average


def test_the_default_champion_metrics_are_spearman_for_value_and_mae_days_for_timing(trained):
    _, cfg, _ = trained
    assert cfg.value.champion_metric == "spearman" and cfg.value.timing_champion_metric == "mae_days"


def test_the_hurdle_design_fits_and_is_scored_beside_tweedie(trained):
    from segment.models.btyd import value_snapshots
    from segment.models.value import fit_value

    _, cfg, result = trained
    data, plan = result.result.data, result.result.values.plans[90]
    snaps = value_snapshots(
        data.engine.con, [*plan.train, *plan.validation], horizon_days=90, grid_end=90,
        feature_horizon=cfg.time.horizon_days,
    )  # fmt: skip
    hurdle = cfg.value.model_copy(update={"model": "hurdle"})
    fit = fit_value(snaps, plan, hurdle, cfg.models.lightgbm, compare=True)
    assert fit.kind == "hurdle" and set(fit.model.parts) == {"buy", "spend"}
    assert set(fit.scores) == {"model", "tweedie", "last_h_days"}  # the other design, on the same rows
    assert (fit.scores["model"] >= 0).all()
    assert fit.metrics["model"]["spearman"] > fit.metrics["last_h_days"]["spearman"]


def test_btyd_baselines_run_in_train_and_are_logged_with_stable_names(trained):
    from mlflow.tracking import MlflowClient

    _, cfg, result = trained
    values = result.result.values
    value, timing = values.value[90], values.timing
    assert "bgnbd_gamma_gamma" in value.metrics and "bgnbd_gamma_gamma" not in value.notes
    assert {"bgnbd", "bgnbd_likely", "klaviyo", "constant"} <= set(timing.metrics)
    assert 0 < value.metrics["bgnbd_gamma_gamma"]["spearman"] <= 1  # a real ranking of the same rows
    client = MlflowClient(cfg.tracking.uri)
    exp = client.get_run(result.run_id).info.experiment_id
    nested = client.search_runs([exp], f"tags.mlflow.parentRunId = '{result.run_id}'")
    logged = {k for r in nested for k in r.data.metrics}
    assert {"value_baseline_bgnbd_gamma_gamma_val_spearman", "timing_baseline_bgnbd_val_mae_days"} <= logged


def test_the_calibration_cutoff_is_later_than_every_label_the_booster_saw():
    from datetime import date, timedelta

    from segment.models.splits import booster_cutoffs

    train = tuple(date(2011, 1, 2) + timedelta(days=14 * i) for i in range(12))  # 2011-01-02 .. 2011-06-05
    fit, calibration = booster_cutoffs(train[::-1], 90)  # any order
    assert calibration == train[-1] and fit == [c for c in train if c <= date(2011, 3, 7)]
    assert all(c + timedelta(days=90) <= calibration for c in fit)  # out of time: no label window reaches it
    assert booster_cutoffs(train[:3], 90) == (list(train[:2]), train[2])  # too short: every earlier cutoff
    with pytest.raises(ValueError, match="two training cutoffs"):
        booster_cutoffs(train[:1], 90)


def test_churn_of_the_purchase_models_run_is_not_predicted_twice(trained, monkeypatch):
    """Same run: churn is the complement of the purchase model, so one booster prediction serves both; the
    numbers are the churn model's own. Champions of different runs: each model predicts."""
    from dataclasses import replace

    from segment.pipeline import tracking
    from segment.pipeline.score import class_probabilities, load_champions

    _, cfg, result = trained
    champions = load_champions(cfg)
    feats = result.result.snapshots.labelled.head(500)
    own = tracking.predict_positive(champions.models["churn"], feats, "churn")
    called, real = [], tracking.predict_positive
    monkeypatch.setattr(tracking, "predict_positive", lambda m, f, name: called.append(name) or real(m, f, name))
    churn, purchase = class_probabilities(None, champions, feats, cfg)
    assert called == ["propensity"] and np.array_equal(churn, own)
    np.testing.assert_allclose(purchase, 1.0 - own, rtol=0, atol=1e-15)
    assert champions.churn_is_complement  # both registered by the one train run
    apart = replace(champions, churn_is_complement=False)  # e.g. champions promoted from two different runs
    called.clear()
    churn, _ = class_probabilities(None, apart, feats, cfg)
    assert sorted(called) == ["churn", "propensity"] and np.array_equal(churn, own)
