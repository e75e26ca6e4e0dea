"""The buy-till-you-die baseline: BG/NBD from pymc-marketing (optional `bench` extra), fitted by MAP.

Fitted on each customer's purchase history up to the cutoff (frequency = repeat purchase days, recency
and age in days, as `rfm_summary` defines them) and asked for P(at least one purchase in the next H days)
for propensity, 1 - that for churn. Imported lazily: without pymc-marketing the baseline is skipped and
the run says so.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def available() -> bool:
    """Whether pymc-marketing is installed."""
    return importlib.util.find_spec("pymc_marketing") is not None


def summary_from_features(frame: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD inputs from our features: repeat purchases, days from first to last purchase, age in days.

    Our `frequency` counts purchase orders (pymc counts repeat purchase *days*; orders on one day are rare
    in order data), `tenure_days` is days since the first purchase, `recency_days` days since the last.
    """
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(frame)),
            "frequency": (frame["frequency"].to_numpy(dtype=float) - 1).clip(min=0),
            "recency": (frame["tenure_days"] - frame["recency_days"]).to_numpy(dtype=float),
            "T": frame["tenure_days"].to_numpy(dtype=float),
        }
    )


def purchase_probability(fit_frame: pd.DataFrame, score_frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Fit BG/NBD on `fit_frame` customers and return P(>= 1 purchase in the horizon) for `score_frame`."""
    from pymc_marketing.clv import BetaGeoModel

    data = summary_from_features(fit_frame)
    data = data[data["T"] > 0]  # a customer first seen on the cutoff day has no observation window
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pymc").setLevel(logging.ERROR)
        model = BetaGeoModel(data=data)
        model.fit(method="map", progressbar=False)
        score = summary_from_features(score_frame)
        score["T"] = score["T"].clip(lower=1.0)
        p_none = model.expected_probability_no_purchase(t=horizon_days, data=score)
    draws = [d for d in p_none.dims if d != "customer_id"]  # MAP: one chain, one draw
    p = 1.0 - p_none.mean(draws).to_numpy()
    return np.clip(p, 0.0, 1.0)
