"""A small, time-bounded hyperparameter search (Optuna TPE) for the LightGBM classifiers.

Each trial fits on the training rows and is scored by log loss on the tuning rows, the held-out fifth of
customers that early-stops every fit. The validation snapshot is never seen, so its metrics of the chosen
model stay honest. Trials come back as plain records; the pipeline logs each as a nested MLflow run.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass

import pandas as pd
from sklearn.pipeline import Pipeline

from segment.config import LightGBMConfig, SearchConfig
from segment.errors import ConfigError
from segment.models.classifiers import fit_classifier


@dataclass(frozen=True)
class Trial:
    """One tried set of hyperparameters and how it did on the tuning rows."""

    number: int
    params: dict[str, float | int]
    tuning_log_loss: float
    best_iteration: int
    seconds: float


def ensure_available(cfg: SearchConfig) -> None:
    """Fail before any long work when a search is asked for and Optuna is missing."""
    if cfg.trials and importlib.util.find_spec("optuna") is None:
        raise ConfigError(
            f"models.search.trials is {cfg.trials} but Optuna is not installed: pip install -e '.[tune]' "
            "(or set models.search.trials=0)"
        )


SPACE = ("num_leaves", "min_child_samples", "learning_rate", "subsample", "colsample_bytree", "reg_lambda")


def _suggest(trial) -> dict[str, float | int]:
    """The search space: tree size, leaf size, learning rate, sampling and L2 regularisation."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 2, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 2000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 100.0, log=True),
    }


def search(
    X_fit: pd.DataFrame,
    y_fit: pd.Series,
    X_tune: pd.DataFrame,
    y_tune: pd.Series,
    base: LightGBMConfig,
    cfg: SearchConfig,
    progress=None,
) -> tuple[LightGBMConfig, Pipeline, list[Trial]]:
    """(best config, its fitted model, every finished trial); trial 0 is `base`, so the search never loses to it.

    Only the best fitted model is kept, so the winner is not fitted a second time.
    """
    ensure_available(cfg)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials: list[Trial] = []
    best: list[tuple[Trial, Pipeline]] = []  # the lowest tuning log loss so far; ties keep the earlier trial

    def objective(trial) -> float:
        start = time.perf_counter()
        params = _suggest(trial)
        model = fit_classifier(X_fit, y_fit, X_tune, y_tune, base.model_copy(update=params))
        booster = model.named_steps["model"]
        loss = float(booster.best_score_["valid_0"]["binary_logloss"])
        done = Trial(trial.number, params, loss, int(booster.best_iteration_ or booster.n_estimators),
                     time.perf_counter() - start)  # fmt: skip
        trials.append(done)
        if not best or loss < best[0][0].tuning_log_loss:
            best[:] = [(done, model)]
        return loss

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.enqueue_trial(base.model_dump(include=set(SPACE)))
    # progress(done, total) after each trial; total is the trial budget (a timeout may end the search sooner)
    callbacks = [lambda study, trial: progress(len(study.trials), cfg.trials)] if progress is not None else None
    study.optimize(objective, n_trials=cfg.trials, timeout=cfg.timeout_seconds, callbacks=callbacks)
    ((winner, model),) = best
    return base.model_copy(update=winner.params), model, trials
