"""Value and timing baselines: BG/NBD x Gamma-Gamma, "the last H days repeat", Klaviyo's timing rule.

BG/NBD and Gamma-Gamma are our own (`models/bgnbd.py`, `models/btyd.py`), fitted by maximum likelihood on the
purchase-day summary of every customer at the cutoff (unsupervised: no label is seen). The summary is
built from the `orders` table by `features.btyd.purchase_day_summaries`, as the models define it:
`frequency` = repeat purchase *days*, `recency` and `T` in days, `monetary_value` = mean net value of the
repeat purchase days.
"""

from __future__ import annotations

import logging
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from segment.features.btyd import purchase_day_summaries
from segment.models import bgnbd
from segment.models.btyd import BtydParams, fit_btyd, gamma_gamma_spend

log = logging.getLogger(__name__)


def purchase_day_summary(con: duckdb.DuckDBPyConnection, cutoff: date) -> pd.DataFrame:
    """customer_id, frequency, recency, T, monetary_value at `cutoff` (`features.btyd.purchase_day_summaries`)."""
    return purchase_day_summaries(con, [cutoff]).drop(columns="cutoff")


def last_h_days(past_value: np.ndarray | pd.Series) -> np.ndarray:
    """The "last H days repeat" baseline: the net value of (t - H, t], floored at 0, as the prediction of (t, t + H]."""
    return np.asarray(past_value, dtype=float)


def klaviyo_days(recency_days: pd.Series, gap_mean_days: pd.Series) -> np.ndarray:
    """Klaviyo's rule in days after the cutoff: last order + the mean days between orders.

    Undefined (NaN) for one-order customers; a date already past (an overdue customer) becomes the next
    day, the earliest a date after the cutoff can be.
    """
    days = gap_mean_days.to_numpy(dtype=float) - recency_days.to_numpy(dtype=float)
    return np.where(np.isnan(days), np.nan, np.maximum(np.ceil(days), 1.0))


class BtydFit:
    """BG/NBD (purchase days) and Gamma-Gamma (mean spend per repeat purchase day), fitted by maximum likelihood.

    Our own models (`models/bgnbd.py`, `models/btyd.py`), the ones the classifiers' baseline and the value
    model's inputs use: pymc-marketing 0.19's P(no purchase) drops BG/NBD's x > 0 term (docs/models.md).
    """

    def __init__(self, summary: pd.DataFrame, params: BtydParams | None = None) -> None:
        """Fit on `summary`, or take `params` already fitted on it (the value inputs' fit at the same cutoff)."""
        x, tx, T, m = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
        self.bgnbd, self.gamma_gamma = params if params is not None else fit_btyd(x, tx, T, m)

    @staticmethod
    def _arrays(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x, tx, T, m = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
        return x, tx, np.maximum(T, 1.0), m

    def expected_revenue(self, summary: pd.DataFrame, horizon_days: int) -> np.ndarray:
        """E[purchase days in the next H days] x E[spend per purchase day] per customer of `summary`."""
        x, tx, T, m = self._arrays(summary)
        n = bgnbd.conditional_expected_purchases(self.bgnbd, x, tx, T, float(horizon_days))
        spend = gamma_gamma_spend(self.gamma_gamma, x, m)
        return np.clip(np.nan_to_num(n), 0.0, None) * np.clip(spend, 0.0, None)

    def p_within(self, summary: pd.DataFrame, days: list[int]) -> dict[int, np.ndarray]:
        """P(at least one purchase within d days) for each d of `days`: BG/NBD's implied timing."""
        x, tx, T, _ = self._arrays(summary)
        return {d: np.clip(1.0 - bgnbd.probability_no_purchase(self.bgnbd, x, tx, T, d), 0.0, 1.0) for d in days}
