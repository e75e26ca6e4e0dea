"""K-means segmenter: skew-aware log, scaling and k-means in one Pipeline, k chosen by silhouette.

Cluster ids are ordered deterministically (by mean monetary value, highest first) and named
from how each centroid differs from the average customer, so "cluster 0" means the same
kind of customer in every fit and every cluster can be explained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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

    def _search_k(self, Z: np.ndarray) -> int:
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(len(Z), size=min(self.sample_size, len(Z)), replace=False)
        sample = Z[np.sort(idx)]
        self.silhouette_scores_: dict[int, float] = {}
        self.min_shares_: dict[int, float] = {}
        for k in range(self.k_min, min(self.k_max, len(sample) - 1) + 1):
            labels = KMeans(k, n_init=4, random_state=self.random_state).fit_predict(sample)
            if len(set(labels)) < 2:
                continue
            self.silhouette_scores_[k] = float(silhouette_score(sample, labels))
            self.min_shares_[k] = float(np.bincount(labels, minlength=k).min() / len(labels))
        if not self.silhouette_scores_:
            raise ValueError(f"cannot cluster {len(Z)} customers into {self.k_min}..{self.k_max} groups")
        ok = [k for k in self.silhouette_scores_ if self.min_shares_[k] >= self.min_share]
        pool = ok or list(self.silhouette_scores_)
        return max(pool, key=lambda k: (round(self.silhouette_scores_[k], 6), -k))

    def fit(self, X: pd.DataFrame, y=None) -> Segmenter:
        """Fit on a customer feature frame; learns `k_`, `pipeline_`, `names_`, `centroids_`."""
        data = X[list(self.features)]
        transform = _transformer().fit(data)
        Z = transform.transform(data)
        self.k_ = self._search_k(Z)
        km = KMeans(self.k_, n_init=10, random_state=self.random_state).fit(Z)
        raw = data.groupby(km.labels_).mean()
        order = raw["monetary"].sort_values(ascending=False).index if "monetary" in raw else raw.index
        self.label_map_ = np.empty(self.k_, dtype=int)
        self.label_map_[np.asarray(order)] = np.arange(self.k_)
        self.pipeline_ = Pipeline([("transform", transform), ("kmeans", km)])
        # standardised centroids, row i = cluster id i (a plain array: skops-serialisable)
        self.centroids_ = km.cluster_centers_[np.argsort(self.label_map_)]
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
        return pd.DataFrame(self.centroids_, columns=list(self.features))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Stable cluster id for each row."""
        return self.label_map_[self.pipeline_.predict(X[list(self.features)])]

    def name_of(self, ids: np.ndarray) -> np.ndarray:
        """Cluster name for each id."""
        return np.array([self.names_[int(i)] for i in ids], dtype=object)
