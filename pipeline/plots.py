"""Matplotlib figures for MLflow and reports. Pure: data in, figure out (the caller logs it)."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402


def roc_pr(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> plt.Figure:
    """ROC and precision-recall curves, one line per model or baseline."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        a.plot(fpr, tpr, label=name)
        b.plot(rec, prec, label=name)
    a.plot([0, 1], [0, 1], ls=":", c="grey")
    a.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{title}: ROC")
    b.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall")
    a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def calibration(y: np.ndarray, p: np.ndarray, title: str) -> plt.Figure:
    """Reliability diagram: observed rate per bin of predicted probability."""
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.plot(mean, frac, marker="o")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=f"{title}: calibration")
    fig.tight_layout()
    return fig


def silhouette(scores: dict[int, float], chosen: int, too_small: frozenset[int] = frozenset()) -> plt.Figure:
    """Silhouette score for each k tried; k whose smallest cluster is under `min_share` drawn as hollow red."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = sorted(scores)
    ax.plot(ks, [scores[k] for k in ks], marker="o")
    small = [k for k in ks if k in too_small]
    if small:
        ax.scatter(small, [scores[k] for k in small], s=90, facecolors="white", edgecolors="tab:red", zorder=3,
                   label="a cluster under min_share")  # fmt: skip
        ax.legend(loc="best", fontsize=8)
    ax.axvline(chosen, ls=":", c="grey")
    ax.set(xlabel="k", ylabel="silhouette", title=f"k-means: silhouette by k (chosen {chosen})")
    fig.tight_layout()
    return fig


def centroid_heatmap(centroids: pd.DataFrame, names: dict[int, str]) -> plt.Figure:
    """Standardised centroid values, one row per cluster."""
    fig, ax = plt.subplots(figsize=(1.2 * centroids.shape[1] + 3, 0.6 * len(centroids) + 1.5))
    im = ax.imshow(centroids.to_numpy(), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xticks(range(centroids.shape[1]), centroids.columns, rotation=40, ha="right")
    ax.set_yticks(range(len(centroids)), [f"{i}: {names[i]}" for i in centroids.index])
    fig.colorbar(im, ax=ax, label="standardised mean")
    fig.tight_layout()
    return fig


def segment_sizes(profile: pd.DataFrame, title: str) -> plt.Figure:
    """Share of customers next to share of revenue, per segment: where the value sits."""
    prof = profile.sort_values("share")
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(prof) + 1.5))
    y = np.arange(len(prof))
    ax.barh(y - 0.2, prof["share"], height=0.4, label="customers")
    ax.barh(y + 0.2, prof["revenue_share"], height=0.4, label="revenue")
    ax.set_yticks(y, prof["segment"].astype(str))
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(xlabel="share", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def segment_counts(counts: pd.DataFrame) -> plt.Figure:
    """Customers per segment now, next to the previous score date when there is one."""
    df = counts.sort_values("customers")
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(df) + 1.5))
    y = np.arange(len(df))
    if "previous" in df:
        ax.barh(y + 0.2, df["previous"], height=0.4, label="previous", color="#bbb")
    ax.barh(y - 0.2, df["customers"], height=0.4, label="now")
    ax.set_yticks(y, df["segment"].astype(str))
    ax.set(xlabel="customers", title="customers per segment")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gain(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> plt.Figure:
    """Cumulative gain by decile: share of all positives found in the top k deciles, per model."""
    from segment.models.evaluation import cumulative_gain

    fig, ax = plt.subplots(figsize=(5, 4))
    x = np.arange(0, 101, 10)
    for name, p in scores.items():
        ax.plot(x, np.r_[0, cumulative_gain(y, p)] * 100, marker="o", ms=3, label=name)
    ax.plot([0, 100], [0, 100], ls=":", c="grey", label="random")
    ax.set(xlabel="customers contacted (%, best first)", ylabel="positives captured (%)", title=f"{title}: gain")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def importance(values: pd.Series, title: str, top: int = 15) -> plt.Figure:
    """Mean |SHAP| per feature, the top ones."""
    v = values.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(v) + 1.2))
    ax.barh(v.index, v.to_numpy())
    ax.set(xlabel="mean |SHAP value| (log-odds)", title=f"{title}: feature importance")
    fig.tight_layout()
    return fig


def cumulative_rate(curve: pd.DataFrame) -> plt.Figure:
    """Share of each arm's members who have bought, day by day since the campaign started."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for arm in ("test", "control"):
        ax.plot(pd.to_datetime(curve["day"]), curve[arm], label=arm)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(xlabel="day", ylabel="members who bought", title="cumulative purchase rate by arm")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def value_deciles(table: pd.DataFrame, title: str) -> plt.Figure:
    """Mean predicted and mean actual value per decile of the prediction (`value_metrics.decile_table`)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    x = table["decile"].to_numpy()
    ax.bar(x - 0.2, table["predicted"], width=0.4, label="predicted")
    ax.bar(x + 0.2, table["actual"], width=0.4, label="actual")
    ax.set(xlabel="decile of prediction (1 = highest)", ylabel="mean net revenue", title=f"{title}: by decile")
    ax.set_xticks(x)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lorenz(curves: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    """Cumulative share of actual revenue captured by customers ranked by each method (`value_metrics.lorenz_curve`)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, c in curves.items():
        ax.plot(c["customer_share"] * 100, c["revenue_share"] * 100, label=name)
    first = next(iter(curves.values()))
    ax.plot(first["customer_share"] * 100, first["perfect"] * 100, ls="--", c="black", label="perfect")
    ax.plot([0, 100], [0, 100], ls=":", c="grey", label="random")
    ax.set(xlabel="customers (%, highest prediction first)", ylabel="revenue captured (%)", title=f"{title}: Lorenz")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def timing_calibration(actual_days: np.ndarray, p_within: dict[int, np.ndarray], title: str) -> plt.Figure:
    """Mean predicted P(order within d) against the observed share, for each d of the grid."""
    a = np.asarray(actual_days, dtype=float)
    days = sorted(p_within)
    observed = [float(np.mean(~np.isnan(a) & (a <= d))) for d in days]
    predicted = [float(np.mean(p_within[d])) for d in days]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(days, predicted, marker="o", label="predicted")
    ax.plot(days, observed, marker="s", label="observed")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(xlabel="d (days)", ylabel="P(next order within d)", title=f"{title}: by day")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
