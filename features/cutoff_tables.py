"""Per-cutoff tables built once per run: the customer features and the purchase-day summaries.

The snapshot step builds the customer features at every training and validation cutoff; the value and
timing step needs the same features (the same feature horizon, `time.horizon_days`) at its own plan's
cutoffs, which are the snapshot's for the default value horizon, and the purchase-day summaries at its
cutoffs for the BTYD inputs and again at the validation cutoff for the BTYD baselines, which fit the
same BG/NBD and Gamma-Gamma as the inputs there (their parameters are kept too). `CutoffTables`
hands out the rows of cutoffs it already holds and computes only the missing ones. A cutoff's rows do
not depend on the other cutoffs computed with it (every aggregate is per cutoff, rows are ordered by
cutoff and customer), so reuse changes no value: `tests/test_cutoff_tables.py` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from segment.features.at_cutoffs import features_at
from segment.features.btyd import purchase_day_summaries
from segment.features.engine import DuckDBEngine
from segment.schema import CUTOFF, PURCHASE_DAYS

NOT_FEATURES = (PURCHASE_DAYS,)  # columns the snapshot step adds to the customer features


def as_dates(cutoffs: Sequence[date]) -> list[date]:
    """The distinct cutoffs as `date`s, sorted (the order every per-cutoff table is in)."""
    return sorted(set(pd.to_datetime(list(cutoffs)).date))


def by_cutoff(frame: pd.DataFrame, cutoffs: Sequence[date]) -> dict[date, pd.DataFrame]:
    """The rows of each of `cutoffs` (an empty frame with the columns for a cutoff without rows).

    A cutoff's rows are contiguous in the frames given here (ordered by cutoff), so they are taken as
    slices, which pandas' copy-on-write shares with `frame` (a boolean mask copied the snapshot step's
    whole feature table: 1.8 GiB at 100M lines).
    """
    positions = {pd.Timestamp(k).date(): v for k, v in frame.groupby(CUTOFF, sort=False).indices.items()}
    out = {}
    for c in cutoffs:
        pos = positions.get(pd.Timestamp(c).date())
        if pos is None:
            out[c] = frame.iloc[0:0]
        elif pos[-1] - pos[0] + 1 == len(pos):
            out[c] = frame.iloc[pos[0] : pos[-1] + 1]
        else:
            out[c] = frame.iloc[pos]
    return out


def rows_at(held: dict[date, pd.DataFrame], cutoffs: Sequence[date]) -> pd.DataFrame:
    """The held rows of `cutoffs` in cutoff order, one index from 0, as one query at those cutoffs returns."""
    parts = [held[c] for c in cutoffs]
    non_empty = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(non_empty, ignore_index=True)


class CutoffTables:
    """Customer features (for one feature horizon) and purchase-day summaries by cutoff, each computed once."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        feature_horizon: int,
        known_features: pd.DataFrame | None = None,
        *,
        customers: Sequence[str] | None = None,
        sampled: Collection[date] = (),
    ) -> None:
        """`known_features`: the snapshot step's features (same `feature_horizon`), reused at their cutoffs.

        `customers`, `sampled`: the training-row cap's customers and the cutoffs it cut (the known features
        hold only their rows there); the summaries of those cutoffs are built for those customers alone, so
        a capped run never holds every customer at every training cutoff (at 100M lines: 3M x 31 rows).
        """
        self.con = con
        self.feature_horizon = feature_horizon
        self.customers = customers
        self.sampled = set(as_dates(sampled)) if customers is not None else set()
        self._features: dict[date, pd.DataFrame] = {}
        self._summaries: dict[date, pd.DataFrame] = {}
        self.btyd: dict[date, Any] = {}  # BTYD parameters fitted per cutoff (`models.btyd.btyd_features` fills it)
        self.computed: dict[str, int] = {"features": 0, "summaries": 0}  # cutoffs computed here, not reused
        if known_features is not None:
            known = known_features.drop(columns=[c for c in NOT_FEATURES if c in known_features])
            self._features |= by_cutoff(known, as_dates(known[CUTOFF]))

    def _get(self, held: dict, kind: str, cutoffs: Sequence[date], build: Callable) -> pd.DataFrame:
        wanted = as_dates(cutoffs)
        missing = [c for c in wanted if c not in held]
        if missing:
            held |= by_cutoff(build(missing), missing)
            self.computed[kind] += len(missing)
        return rows_at(held, wanted)

    def features(self, cutoffs: Sequence[date]) -> pd.DataFrame:
        """`customer_features` at `cutoffs` (ordered by cutoff and customer): held rows, the rest computed.

        The rest by `features_at` (running sums from a few cutoffs on: other horizons' plans need ~30).
        """

        def build(cs: Sequence[date]) -> pd.DataFrame:
            frame = features_at(DuckDBEngine(self.con), cs, horizon_days=self.feature_horizon)
            return frame.drop(columns=[c for c in NOT_FEATURES if c in frame])

        return self._get(self._features, "features", cutoffs, build)

    def split(self, cutoffs: Sequence[date]) -> tuple[list[date], list[date]]:
        """(cutoffs with every customer, cutoffs cut to the cap's customers)."""
        wanted = as_dates(cutoffs)
        return [c for c in wanted if c not in self.sampled], [c for c in wanted if c in self.sampled]

    @contextmanager
    def sampled_orders(self) -> Iterator[str]:
        """A view of `orders` holding the cap's customers only, for the labels of the cut cutoffs."""
        ids = pd.DataFrame({"customer_id": pd.Series(list(self.customers or ()), dtype=object)})
        self.con.register("sampled_value_ids_df", ids)
        self.con.execute(
            "CREATE OR REPLACE TEMP VIEW sampled_value_orders AS SELECT * FROM orders "
            "WHERE CAST(customer_id AS VARCHAR) IN (SELECT customer_id FROM sampled_value_ids_df)"
        )
        try:
            yield "sampled_value_orders"
        finally:
            self.con.execute("DROP VIEW IF EXISTS sampled_value_orders")
            self.con.unregister("sampled_value_ids_df")

    def summaries(self, cutoffs: Sequence[date]) -> pd.DataFrame:
        """`purchase_day_summaries` at `cutoffs`: held rows, the rest computed."""

        def build(cs: Sequence[date]) -> pd.DataFrame:
            whole, cut = self.split(cs)
            parts = [purchase_day_summaries(self.con, whole)] if whole else []
            if cut:
                parts.append(purchase_day_summaries(self.con, cut, self.customers))
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

        return self._get(self._summaries, "summaries", cutoffs, build)

    def summary(self, cutoff: date) -> pd.DataFrame:
        """The purchase-day summary at one cutoff without the cutoff column (`value_baselines.purchase_day_summary`)."""
        return self.summaries([cutoff]).drop(columns=CUTOFF)
