"""K-means segmenter: skew-aware log, scaling and k-means in one Pipeline, k chosen by silhouette.

Cluster ids must mean the same kind of customer across retrains, or marketing's audiences break.
A first fit orders ids by mean monetary value (highest first). A refit given the champion as
`reference` matches its centroids to the champion's (Hungarian assignment on distance in the new
model's space) and inherits their ids; clusters with no counterpart get fresh ids. Fitting sorts the
rows first, so the result does not depend on row order. Names come from how each centroid differs
from the average customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


class SkewLog(TransformerMixin, BaseEstimator):
    """Signed log1p on the columns whose skewness exceeds `threshold` at fit time."""

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold

    def fit(self, X, y=None):  # noqa: D102
        X = np.asarray(X, dtype=float)
        centred = X - np.nanmean(X, axis=0)
        sd = np.nanstd(X, axis=0)
        skew = np.nanmean(centred**3, axis=0) / np.where(sd > 0, sd**3, 1.0)
        self.log_mask_ = np.abs(skew) > self.threshold
        return self

    def transform(self, X):  # noqa: D102
        X = np.array(X, dtype=float)
        X[:, self.log_mask_] = np.sign(X[:, self.log_mask_]) * np.log1p(np.abs(X[:, self.log_mask_]))
        return X

    def inverse_transform(self, X):  # noqa: D102
        X = np.array(X, dtype=float)
        X[:, self.log_mask_] = np.sign(X[:, self.log_mask_]) * np.expm1(np.abs(X[:, self.log_mask_]))
        return X


def _transformer() -> Pipeline:
    return Pipeline([("log", SkewLog()), ("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])


def _name(z: pd.Series) -> str:
    """A short name from standardised centroid values (0 = the average customer)."""

    def level(col: str, hi: str, lo: str, mid: str) -> str | None:
        if col not in z:
            return None
        return hi if z[col] > 0.5 else lo if z[col] < -0.5 else mid

    value = level("monetary", "High-value", "Low-value", "Mid-value")
    recency = level("recency_days", "lapsed", "recent", "cooling")
    freq = level("frequency", "frequent buyers", "one-timers", "occasional buyers")
    parts = [p for p in (value, recency, freq) if p]
    if len(parts) < 2:
        top = z.abs().sort_values(ascending=False).index[:2]
        parts = [f"{'high' if z[c] > 0 else 'low'} {c}" for c in top]
    return " ".join(parts)


class Segmenter(BaseEstimator):
    """Choose k by silhouette on a sample (respecting a minimum cluster share), then fit k-means."""

    def __init__(
        self,
        features: tuple[str, ...] = ("recency_days", "frequency", "monetary"),
        k_min: int = 3,
        k_max: int = 8,
        sample_size: int = 5000,
        min_share: float = 0.03,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.k_min = k_min
        self.k_max = k_max
        self.sample_size = sample_size
        self.min_share = min_share
        self.random_state = random_state

    def _search_k(self, Z: np.ndarray, progress=None) -> int:
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(len(Z), size=min(self.sample_size, len(Z)), replace=False)
        sample = Z[np.sort(idx)]
        self.silhouette_scores_: dict[int, float] = {}
        self.min_shares_: dict[int, float] = {}
        ks = range(self.k_min, min(self.k_max, len(sample) - 1) + 1)
        for i, k in enumerate(ks):
            if progress is not None:  # (done, total) before each k: the first k's time counts too
                progress(i, len(ks))
            labels = KMeans(k, n_init=4, random_state=self.random_state).fit_predict(sample)
            if len(set(labels)) < 2:
                continue
            self.silhouette_scores_[k] = float(silhouette_score(sample, labels))
            self.min_shares_[k] = float(np.bincount(labels, minlength=k).min() / len(labels))
        if progress is not None:
            progress(len(ks), len(ks))
        if not self.silhouette_scores_:
            raise ValueError(f"cannot cluster {len(Z)} customers into {self.k_min}..{self.k_max} groups")
        ok = [k for k in self.silhouette_scores_ if self.min_shares_[k] >= self.min_share]
        pool = ok or list(self.silhouette_scores_)
        return max(pool, key=lambda k: (round(self.silhouette_scores_[k], 6), -k))

    def fit(self, X: pd.DataFrame, y=None, reference: Segmenter | None = None, progress=None) -> Segmenter:
        """Fit on a customer feature frame; learns `k_`, `pipeline_`, `ids_`, `names_`, `centroids_`.

        With `reference` (the champion segmenter), ids are inherited from its nearest centroids and
        `ids_moved_` counts the clusters whose id differs from what a first fit would give them.
        `progress(done, total)`, if given, is called as each k of the search is tried (not stored).
        """
        data = X[list(self.features)]
        data = data.iloc[np.lexsort(data.to_numpy(dtype=float).T[::-1])]  # row order must not matter
        transform = _transformer().fit(data)
        Z = transform.transform(data)
        self.k_ = self._search_k(Z, progress)
        km = KMeans(self.k_, n_init=10, random_state=self.random_state).fit(Z)
        raw = data.groupby(km.labels_).mean()
        order = raw["monetary"].sort_values(ascending=False).index if "monetary" in raw else raw.index
        by_value = np.empty(self.k_, dtype=int)
        by_value[np.asarray(order)] = np.arange(self.k_)
        self.label_map_ = by_value
        self.matched_ = False
        if reference is not None and tuple(reference.features) == tuple(self.features):
            self.label_map_ = _inherit_ids(km.cluster_centers_, transform, reference, by_value)
            self.matched_ = True
        self.ids_moved_ = int((self.label_map_ != by_value).sum())
        self.pipeline_ = Pipeline([("transform", transform), ("kmeans", km)])
        rows = np.argsort(self.label_map_)
        self.ids_ = self.label_map_[rows]
        # standardised centroids, row i = cluster id ids_[i] (plain arrays: skops-serialisable)
        self.centroids_ = km.cluster_centers_[rows]
        log, scale = transform.named_steps["log"], transform.named_steps["scale"]
        self.centroids_raw_ = log.inverse_transform(scale.inverse_transform(self.centroids_))
        names: dict[int, str] = {}
        for cid, z in self.centroid_frame().iterrows():
            base, name, n = _name(z), _name(z), 2
            while name in names.values():
                name, n = f"{base} {n}", n + 1
            names[int(cid)] = name
        self.names_ = names
        return self

    def centroid_frame(self) -> pd.DataFrame:
        """Standardised centroid values, one row per cluster id."""
        return pd.DataFrame(self.centroids_, columns=list(self.features), index=pd.Index(self.ids_, name="cluster_id"))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Stable cluster id for each row."""
        return self.label_map_[self.pipeline_.predict(X[list(self.features)])]

    def name_of(self, ids: np.ndarray) -> np.ndarray:
        """Cluster name for each id."""
        return np.array([self.names_[int(i)] for i in ids], dtype=object)


def _inherit_ids(centres: np.ndarray, transform: Pipeline, reference: Segmenter, fallback: np.ndarray) -> np.ndarray:
    """Cluster label -> id: the id of the matched reference centroid, or a fresh id past the reference's.

    The reference's centroids (kept in original units) are mapped into the new model's space, so both sets
    are compared on one scale; the assignment minimises the total distance.
    """
    old = transform.transform(pd.DataFrame(reference.centroids_raw_, columns=list(reference.features)))
    cost = np.linalg.norm(centres[:, None, :] - old[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    ids = np.full(len(centres), -1)
    ids[rows] = np.asarray(reference.ids_)[cols]
    fresh = int(max(reference.ids_)) + 1
    for label in np.argsort(fallback):  # unmatched clusters, in value order
        if ids[label] < 0:
            ids[label], fresh = fresh, fresh + 1
    return ids
