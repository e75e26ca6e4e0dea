"""The training-row cap applied before the feature query, so a big store never builds its full frame.

`models.sampling.sample_customers` cuts the training-cutoff rows of a built frame; at 100M lines that
frame has about 46M rows (13 GiB in pandas) before it is cut. The same customers can be chosen from one
number per customer: its rows at the training cutoffs, which is how many training cutoffs fall on or
after its first purchase (a customer has a feature row at every cutoff from its first purchase on).
Those counts come from one grouped query over the orders; `kept_customers` then applies the same salted
hash and the same cut, so the kept customers are exactly those `sample_customers` would keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import pandas as pd

from segment.features.engine import Engine
from segment.models.sampling import kept_customers
from segment.schema import CUSTOMER_ID, CUTOFF

Kind = Literal["training", "validation"]


@dataclass(frozen=True)
class TrainingSample:
    """The customers whose rows at the cut cutoffs are kept (the training or the validation cap), and what it cost."""

    customers: tuple[str, ...]
    rows_available: int  # training-cutoff rows of every customer
    rows_sampled: int  # those of the kept customers
    customers_available: int
    max_rows: int
    seed: int
    cutoffs: tuple[date, ...] = ()  # the cutoffs it cut (every other cutoff keeps every customer)
    kind: Kind = "training"  # which cap (`models.max_{kind}_rows`) chose it

    def note(self) -> str:
        """One sentence for the model card."""
        return (
            f"{self.kind.capitalize()} capped at models.max_{self.kind}_rows = {self.max_rows:,}: "
            f"{self.rows_sampled:,} of {self.rows_available:,} {self.kind}-cutoff rows ({len(self.customers):,} of "
            f"{self.customers_available:,} customers, whole customers by a seeded hash of their id, seed {self.seed})."
        )


def cap_notes(training: TrainingSample | None, validation: TrainingSample | None) -> str:
    """What the caps cut, for a card ("" when neither cut)."""
    notes = [s.note() for s in (training, validation) if s is not None]
    if training is not None and validation is None:
        notes.append("Validation rows not sampled.")
    return " ".join(notes)


def keep_sampled(frame: pd.DataFrame, sample: TrainingSample | None) -> pd.DataFrame:
    """`frame` with only the sample's customers at the sample's cutoffs (other cutoffs untouched)."""
    if sample is None:
        return frame
    at = frame[CUTOFF].isin(sample.cutoffs)
    keep = ~at | frame[CUSTOMER_ID].astype(str).isin(set(sample.customers))
    return frame if keep.all() else frame[keep].reset_index(drop=True)


def rows_per_customer_sql(orders: str, cutoffs: str) -> str:
    """(customer_id, rows): the training cutoffs on or after each customer's first purchase day."""
    return f"""WITH first_buy AS (
            SELECT customer_id, min(CAST(ts AS DATE)) AS day FROM {orders} WHERE gross > 0 GROUP BY customer_id)
        SELECT f.customer_id AS {CUSTOMER_ID}, count(*) AS rows
        FROM first_buy f JOIN {cutoffs} c ON f.day <= CAST(c.{CUTOFF} AS DATE)
        GROUP BY f.customer_id"""


def rows_per_customer(engine: Engine, train_cutoffs: Sequence[date], orders: str = "orders") -> pd.Series:
    """Customer id (text) -> its number of training-cutoff rows (customers with none are absent)."""
    engine.register("cap_cutoffs", pd.DataFrame({CUTOFF: sorted(set(pd.to_datetime(list(train_cutoffs)).date))}))
    df = engine.query(rows_per_customer_sql(orders, "cap_cutoffs"))
    return pd.Series(df["rows"].to_numpy(), index=df[CUSTOMER_ID].astype(str).to_numpy(), name="rows")


def training_sample(
    engine: Engine,
    train_cutoffs: Sequence[date],
    max_rows: int | None,
    seed: int,
    orders: str = "orders",
    kind: Kind = "training",
) -> TrainingSample | None:
    """The customers to keep at the cutoffs, or None when every row fits under `max_rows`.

    The same function picks the validation sample (`kind="validation"`): one salted hash orders the
    customers for both caps, so a validation sample at least as large holds the training sample's customers.
    """
    if max_rows is None:
        return None
    counts = rows_per_customer(engine, train_cutoffs, orders)
    available = int(counts.sum())
    if available <= max_rows:
        return None
    kept = kept_customers(counts, max_rows, seed)
    rows = int(counts[kept].sum())
    cut = tuple(sorted(set(pd.to_datetime(list(train_cutoffs)).date)))
    return TrainingSample(tuple(sorted(map(str, kept))), available, rows, len(counts), max_rows, seed, cut, kind)
