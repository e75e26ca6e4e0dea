"""Fit the purchase model once on stacked snapshots; churn is its complement on the active population.

Design (docs/models.md, docs/time.md):
- one question, one model: P(purchase in the next H days). Churn asks the same question of the active
  customers, inverted, so P(churn) = 1 - P(purchase) for them; the two can never contradict.
- out-of-time calibration: the booster is fitted on the training cutoffs at least one horizon before the
  latest training cutoff C (early stopping on a fixed fifth of the customers), and mapped to the labels
  of every customer at C, a cutoff it never saw, whose labels are newer than any of its own. The map
  blends the booster's log-odds with BG/NBD's (fitted without labels on the customers at C): a
  logistic regression on the two, so the weights are fitted on an earlier window than the one scored.
  A season step (calibration.py) moves the level from C's window to V's. V is scored once, untouched.
- the registered model is the same procedure one horizon later: a booster on every training cutoff (up
  to C = V - H, with the evaluated number of trees), mapped on the labels at V.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from segment.config import LightGBMConfig, SearchConfig
from segment.features.snapshots import SnapshotPlan
from segment.models import bgnbd as bgnbd_model
from segment.models.calibration import BlendModel, Complement, calibrate, fit_blend_map
from segment.models.classifiers import fit_classifier, fit_fixed, predict_positive
from segment.models.evaluation import binary_metrics, fit_rfm_logistic, recency_baseline, shap_importance
from segment.models.search import Trial, search
from segment.models.splits import (
    booster_cutoffs,
    model_inputs,
    season_step,
    split_tuning,
    train_validation_rows,
)
from segment.schema import LABEL, PURCHASE_DAYS, Target


@dataclass
class TargetResult:
    """A fitted model with its validation predictions and metrics for it and every baseline."""

    target: Target
    model: object  # the registered model (refitted): predict_proba like scikit-learn
    features: list[str]
    y_val: np.ndarray
    scores: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    X_example: pd.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    calibration: dict[str, float | str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    X_val: pd.DataFrame | None = None  # the validation rows, to re-score the current champion on
    booster: Pipeline | None = None  # the evaluated model's uncalibrated preprocessing + LightGBM, for SHAP
    importance: pd.Series | None = None  # mean |SHAP| per feature on the validation rows
    params: LightGBMConfig | None = None  # the hyperparameters the model was fitted with
    trials: list[Trial] = field(default_factory=list)  # the search's trials, when one ran
    evaluated: object | None = None  # the model whose validation scores are reported (before the refit)


@dataclass
class PurchaseFit:
    """The propensity fit: the evaluated model, the refitted one, and what was measured on the way."""

    evaluated: object
    registered: object
    booster: Pipeline
    features: list[str]  # the booster's inputs
    inputs: list[str]  # the model's inputs (the booster's, plus purchase_days for the blend)
    params: LightGBMConfig
    trials: list[Trial]
    calibration: dict[str, float | str]
    rows: dict[str, int]
    notes: dict[str, str]
    alone: object | None = None  # the evaluated booster with its own logistic map (no BG/NBD), to compare


def _mapped(booster, features, cal_rows, label, blend: bool, horizon: int, season_fn):
    """The booster's map fitted on `cal_rows` (blended with BG/NBD fitted on them when `blend`), season added.

    Returns (model, what was measured); `season_fn(predict)` gives the season step for the model.
    """
    y = cal_rows[label].to_numpy(dtype=int)
    raw = booster.predict_proba(cal_rows[features])[:, 1]
    if blend:
        params = bgnbd_model.fit_frame(cal_rows)  # no label: every customer at the cutoff
        p_bg = 1.0 - bgnbd_model.probability_no_purchase(params, *bgnbd_model.summary_from_features(cal_rows), horizon)
        weights = fit_blend_map(raw, p_bg, y)
        model = BlendModel(booster, features, params, horizon, weights)
        info = {"method": "blend of LightGBM and BG/NBD log-odds, out of time", "weight_lightgbm": weights[0]}
        info |= {"weight_bgnbd": weights[1], "intercept": weights[2]}
    else:
        model, info = calibrate(booster, cal_rows[features], y)
    step = season_fn(lambda part: model.predict_proba(part)[:, 1])
    model.season = step
    return model, info | {"season_step": step}


def fit_purchase(
    snapshots: pd.DataFrame,
    plan: SnapshotPlan,
    cfg: LightGBMConfig,
    *,
    search_cfg: SearchConfig | None = None,
    season: bool = True,
    blend: bool = True,
    extra_features: tuple[str, ...] = (),
    refit: bool = True,
    progress=None,
) -> PurchaseFit:
    """Lagged booster mapped out of time at C and evaluated at V; the refit one horizon later (module doc)."""
    label = LABEL["propensity"]
    features = model_inputs(snapshots, extra_features)
    blend = blend and PURCHASE_DAYS in snapshots
    rows = snapshots[snapshots[label].notna()]
    fit_cut, cal_cut = booster_cutoffs(plan.train, plan.horizon_days)
    notes: dict[str, str] = {}
    if max(fit_cut) + timedelta(days=plan.horizon_days) > cal_cut:
        notes["calibration"] = "history too short: the booster's labels overlap the calibration window"
    fit_rows, tune_rows = split_tuning(rows[rows["cutoff"].isin(fit_cut)])
    cal_rows = rows[rows["cutoff"] == cal_cut]
    for name, part in (("training", fit_rows), ("tuning", tune_rows), ("calibration", cal_rows)):
        if part[label].nunique() < 2:
            raise ValueError(f"propensity: both classes are needed in the {name} rows")
    xy = (fit_rows[features], fit_rows[label].astype(int), tune_rows[features], tune_rows[label].astype(int))
    trials: list[Trial] = []
    if search_cfg is not None and search_cfg.trials:
        cfg, booster, trials = search(*xy, cfg, search_cfg, progress)
    else:
        booster = fit_classifier(*xy, cfg)
    inner = booster.named_steps["model"]
    n_trees = int(inner.best_iteration_ or inner.n_estimators)
    validation = plan.validation[-1]
    horizon = plan.horizon_days

    def season_fn(frm: date, to: date):
        def step(predict) -> float:
            value = season_step(predict, rows, label, frm, to) if season else 0.0
            if value is None:
                notes["season"] = "no labelled cutoff a year before the calibration or predicted window: no step"
            return value or 0.0

        return step

    evaluated, calibration = _mapped(booster, features, cal_rows, label, blend, horizon, season_fn(cal_cut, validation))
    alone = evaluated
    if blend:  # the booster with its own map, for the comparison the run and the benchmark report
        alone, _ = _mapped(booster, features, cal_rows, label, False, horizon, season_fn(cal_cut, validation))
    registered = evaluated
    if refit:  # the same procedure one horizon later: booster up to C = V - H, mapped at V
        train_rows = rows[rows["cutoff"].isin(plan.train)]
        final = fit_fixed(train_rows[features], train_rows[label].astype(int), cfg, n_trees)
        val_rows = rows[rows["cutoff"] == validation]
        deploy = validation + timedelta(days=horizon)  # the last date: where scoring starts
        registered, refit_cal = _mapped(final, features, val_rows, label, blend, horizon, season_fn(validation, deploy))
        calibration |= {f"refit_{k}": v for k, v in refit_cal.items() if k != "method"}
    counts = {
        "train_rows": len(fit_rows),
        "tuning_rows": len(tune_rows),
        "calibration_rows": len(cal_rows),
        "best_iteration": n_trees,
    }
    inputs = features + ([PURCHASE_DAYS] if blend else [])
    return PurchaseFit(evaluated, registered, booster, features, inputs, cfg, trials, calibration, counts, notes, alone)


def _result(target: Target, fit: PurchaseFit, snapshots: pd.DataFrame, plan: SnapshotPlan, bgnbd: bool) -> TargetResult:
    """Validation scores and metrics of one target (churn: the complement, on the active customers)."""
    train, val = train_validation_rows(snapshots, plan, target)
    label = LABEL[target]
    if val[label].nunique() < 2:
        raise ValueError(f"{target}: both classes are needed in the validation rows")
    churn = target == "churn"
    p_buy = predict_positive(fit.evaluated, val[fit.inputs]).to_numpy()
    alone = predict_positive(fit.alone, val[fit.inputs]).to_numpy()  # the booster without BG/NBD
    rfm_lr, rfm_cols = fit_rfm_logistic(train, train[label].astype(int))
    scores = {
        "model": 1.0 - p_buy if churn else p_buy,
        "lightgbm_alone": 1.0 - alone if churn else alone,
        "recency_rank": recency_baseline(val, positive_is_recent=not churn),
        "rfm_logistic": rfm_lr.predict_proba(val[rfm_cols].to_numpy(dtype=float))[:, 1],
    }
    notes = dict(fit.notes)
    if bgnbd and PURCHASE_DAYS in snapshots:
        everyone = snapshots[snapshots["cutoff"].isin(plan.validation)]  # unsupervised: all customers at t
        p = bgnbd_model.purchase_probability(everyone, val, plan.horizon_days)
        scores["bgnbd"] = 1.0 - p if churn else p
    elif bgnbd:
        notes["bgnbd"] = f"no {PURCHASE_DAYS} column in the snapshots: BG/NBD baseline skipped"
    y = val[label].to_numpy(dtype=int)
    # SHAP on a seeded sample: 300k rows cost 127 CPU s against 4 s for 10k, within 2 % (docs/performance.md)
    importance = shap_importance(fit.booster, val[fit.features].sample(n=min(len(val), SHAP_ROWS), random_state=0))
    return TargetResult(
        target=target,
        model=Complement(fit.registered) if churn else fit.registered,
        features=fit.inputs,
        y_val=y,
        scores=scores,
        metrics={name: binary_metrics(y, p) for name, p in scores.items()},
        X_example=train[fit.inputs].head(200),
        rows=fit.rows | {"validation_rows": len(val)},
        calibration=fit.calibration,
        notes=notes,
        X_val=val[fit.inputs],
        booster=fit.booster,
        importance=importance,
        params=fit.params,
        trials=fit.trials,
        evaluated=Complement(fit.evaluated) if churn else fit.evaluated,
    )


SHAP_ROWS = 20_000


def fit_targets(
    snapshots: pd.DataFrame,
    plan: SnapshotPlan,
    cfg: LightGBMConfig,
    *,
    search_cfg: SearchConfig | None = None,
    bgnbd: bool = True,
    season: bool = True,
    blend: bool = True,
    refit: bool = True,
    progress=None,
) -> dict[Target, TargetResult]:
    """Both targets from one purchase fit: propensity, and churn = 1 - propensity on the active customers.

    `progress`, when given, is called once per finished search trial (the CLI's progress meter).
    """
    fit = fit_purchase(
        snapshots, plan, cfg, search_cfg=search_cfg, season=season, blend=blend, refit=refit, progress=progress
    )
    return {t: _result(t, fit, snapshots, plan, bgnbd) for t in ("churn", "propensity")}
