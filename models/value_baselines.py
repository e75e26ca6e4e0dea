"""Value and timing baselines: BG/NBD x Gamma-Gamma, "the last H days repeat", Klaviyo's timing rule.

BG/NBD and Gamma-Gamma come from pymc-marketing (the optional `bench` extra), fitted by MAP on the
purchase-day summary of every customer at the cutoff (unsupervised: no label is seen). The summary is
built from the `orders` table by `features.btyd.purchase_day_summaries`, as the models define it:
`frequency` = repeat purchase *days*, `recency` and `T` in days, `monetary_value` = mean net value of the
repeat purchase days. `models/bgnbd.py` (the classifiers' BG/NBD baseline) should share that function.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from segment.features.btyd import purchase_day_summaries

log = logging.getLogger(__name__)


def available() -> bool:
    """Whether pymc-marketing is installed."""
    return importlib.util.find_spec("pymc_marketing") is not None


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
    """BG/NBD (purchase days) and Gamma-Gamma (mean spend per repeat purchase day), fitted by MAP."""

    def __init__(self, summary: pd.DataFrame) -> None:
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

        data = summary.assign(customer_id=np.arange(len(summary)))
        data = data[data["T"] > 0]  # a customer first seen on the cutoff day has no observation window
        spend = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("pymc").setLevel(logging.ERROR)
            self.bgnbd = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]])
            self.bgnbd.fit(method="map", progressbar=False)
            self.gamma_gamma = GammaGammaModel(data=spend[["customer_id", "frequency", "monetary_value"]])
            self.gamma_gamma.fit(method="map", progressbar=False)

    @staticmethod
    def _frame(summary: pd.DataFrame) -> pd.DataFrame:
        return summary.assign(customer_id=np.arange(len(summary)), T=summary["T"].clip(lower=1.0))

    @staticmethod
    def _values(arr) -> np.ndarray:
        draws = [d for d in arr.dims if d != "customer_id"]  # MAP: one chain, one draw
        return arr.mean(draws).to_numpy()

    def expected_revenue(self, summary: pd.DataFrame, horizon_days: int) -> np.ndarray:
        """E[purchase days in the next H days] x E[spend per purchase day] per customer of `summary`."""
        data = self._frame(summary)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n = self._values(self.bgnbd.expected_purchases(data=data, future_t=horizon_days))
            spend_in = data.assign(monetary_value=data["monetary_value"].clip(lower=0.0))
            spend = self._values(self.gamma_gamma.expected_customer_spend(data=spend_in))
        return np.clip(n, 0.0, None) * np.clip(spend, 0.0, None)

    def p_within(self, summary: pd.DataFrame, days: list[int]) -> dict[int, np.ndarray]:
        """P(at least one purchase within d days) for each d of `days`: BG/NBD's implied timing."""
        data = self._frame(summary)
        out = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for d in days:
                p_none = self._values(self.bgnbd.expected_probability_no_purchase(t=d, data=data))
                out[d] = np.clip(1.0 - p_none, 0.0, 1.0)
        return out
