"""Drift that knows the season: per-snapshot constants and tenure are not checked, a normal season does not warn."""

from datetime import date, timedelta

import numpy as np
import pandas as pd

from segment.pipeline import progress
from segment.pipeline.drift import moved, psi, reference


def _snapshot(rng, cutoff: date, n=3000) -> pd.DataFrame:
    season = np.sin(2 * np.pi * cutoff.timetuple().tm_yday / 365)  # recency swings with the calendar
    return pd.DataFrame(
        {
            "cutoff": cutoff,
            "recency_days": rng.gamma(2, 40 * (1 + 0.6 * season), n),
            "monetary": np.exp(rng.normal(5, 1, n)),
            "tenure_days": rng.uniform(0, 700, n) + (cutoff - date(2010, 1, 1)).days,
            "cutoff_month": float(cutoff.month),
        }
    )


def test_a_normal_season_does_not_warn_and_a_real_shift_does():
    rng = np.random.default_rng(0)
    cutoffs = [date(2010, 1, 3) + timedelta(days=14 * i) for i in range(30)]
    history = pd.concat([_snapshot(rng, c) for c in cutoffs])
    features = ["recency_days", "monetary", "tenure_days", "cutoff_month"]
    at = cutoffs[-8]  # late October: recency is short, and grows by February
    ref = reference(history[history["cutoff"] == at], features, history=history, lag_days=90)
    assert "cutoff_month" not in ref and "tenure_days" not in ref  # nothing to learn from them
    later = _snapshot(rng, at + timedelta(days=91))
    values = psi(ref, later)
    assert values["recency_days"] > 0.2  # a plain 0.2 threshold would fire ...
    assert moved(ref, values, 0.2) == {}  # ... on a movement the training year already showed
    broken = later.assign(monetary=later["monetary"] * 20)  # a currency change: not a season
    assert set(moved(ref, psi(ref, broken), 0.2)) == {"monetary"}


def test_warnings_print_even_when_quiet(capsys):
    progress.set_quiet(True)
    try:
        progress.info("stage line")
        progress.warn("warning: drift")
    finally:
        progress.set_quiet(False)
    err = capsys.readouterr().err
    assert "warning: drift" in err and "stage line" not in err
