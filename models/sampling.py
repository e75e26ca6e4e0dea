"""A bounded training set: a seeded sample of whole customers, across every cutoff.

Training time grows with the snapshot rows (customers x cutoffs), so a big store is capped at
`models.max_training_rows` by keeping whole customers: every cutoff of a kept customer stays, none of a
dropped one, so no customer is half in the training rows and half out, and the per-customer split into
fitting and tuning rows (`models.training.split_tuning`) still holds. Which customers are kept depends
only on their ids and the seed (a salted hash), never on row order, so a rerun on the same data keeps
the same customers and a customer's fate does not change when other customers are added.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _rank_key(customer_ids: pd.Series, seed: int) -> np.ndarray:
    """A seeded pseudo-random 64-bit key per id (salted with the seed so it is independent of other hashes)."""
    salt = f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"[-16:]  # hash_pandas_object wants a 16-character key
    return pd.util.hash_pandas_object(customer_ids, index=False, hash_key=salt).to_numpy()


def kept_customers(counts: pd.Series, max_rows: int, seed: int = 0) -> pd.Index:
    """The customers kept from `counts` (customer id -> its rows), under `max_rows` rows in all.

    Taken in the order of a seeded hash of their id until the next one would pass `max_rows`: depends
    only on the ids, their counts and the seed (`models.capped` applies it before the feature query).
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    ids = pd.Series(counts.index.astype(str), index=counts.index)
    order = np.lexsort((ids.to_numpy(), _rank_key(ids, seed)))  # ties on the key: by id, deterministic
    within = np.cumsum(counts.to_numpy()[order]) <= max_rows
    return counts.index[order][within]


def sample_customers(snapshots: pd.DataFrame, max_rows: int | None, seed: int = 0) -> pd.DataFrame:
    """The rows of a seeded sample of customers with at most `max_rows` rows in all (all rows when they fit).

    Customers are taken in the order of a seeded hash of their id until the next one would pass
    `max_rows`; rows keep their original order. `max_rows=None` means no cap.
    """
    if max_rows is None or len(snapshots) <= max_rows:
        return snapshots
    kept = kept_customers(snapshots["customer_id"].value_counts(sort=False), max_rows, seed)
    return snapshots[snapshots["customer_id"].isin(kept)]
