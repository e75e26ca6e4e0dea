"""Models against the corrected BG/NBD on backtest windows fixed in advance, three per data set.

Each window is a validation cutoff V: the models are fitted on cutoffs whose labels end by V (the same
code path as `segment train`, without MLflow) and scored once on every customer at V, labels in
(V, V + 90 days]. Windows: `models.backtest_windows` of the data set's config; by default the three
latest cutoffs one horizon apart (Online Retail II and the bundled sample: 2011-09-10, 2011-06-12,
2011-03-14). BG/NBD is ours (models/bgnbd.py): repeat purchase days, the x > 0 term, fitted by maximum
likelihood on every customer at V.
The value and timing models (issue 18) against their baselines (BG/NBD x Gamma-Gamma, last H days,
Klaviyo's rule, BG/NBD timing, a constant) are in `bench/results/value.md` (`make bench SECTIONS=value`).

Candidates (propensity; churn is 1 - propensity on the active customers, so it has no model of its own):
- `blend LightGBM + BG/NBD (ours)`: what `segment train` registers. The booster on the training cutoffs
  up to one horizon before the latest training cutoff C; a logistic regression on [its log-odds,
  BG/NBD's log-odds] fitted on every customer at C (a later cutoff than the booster saw, an earlier
  window than V), plus the season step (models/training.py).
- `blend, no season step`: the same without the step, to show what it does.
- `LightGBM alone`: the same booster with its own logistic map on log-odds (no BG/NBD), plus the step.
- `stacked (BG/NBD input)`: a booster with BG/NBD's P(buy) (fitted at each cutoff on that cutoff's
  customers) as one more input, its own map, plus the step.
`diff vs BG/NBD` is the ROC-AUC difference with a 95 % interval from 300 paired bootstrap resamples of the
window's customers. `distinct /1000` counts distinct probabilities per 1,000 customers; `decile dev` is the
largest distance of a decile's share from 10 % (deciles by rank, ties broken by customer id).
"""

from __future__ import annotations

import copy
import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from bench.common import REPO, header, table, write
from bench.generate import COLUMNS, lines_file
from segment.features.engine import DuckDBEngine
from segment.features.snapshots import SnapshotPlan, plan_snapshots
from segment.models import bgnbd
from segment.models.evaluation import binary_metrics, deciles
from segment.models.training import _result, fit_purchase
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, data_span, prepare
from segment.pipeline.snapshot import build_snapshots
from segment.schema import LABEL

BOOTSTRAP = 300
SHIPPED = "blend LightGBM + BG/NBD (ours)"


def _generated_config(folder: Path) -> Path:
    path = folder / "generated.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": [str(lines_file(1_000_000))], "columns": COLUMNS}}))
    return path


def windows(last: date, cfg) -> list[date]:
    """The config's backtest windows, or the three latest cutoffs one horizon apart."""
    if cfg.models.backtest_windows:
        return sorted(cfg.models.backtest_windows, reverse=True)
    h = timedelta(days=cfg.time.horizon_days)
    return [last - h * i for i in (1, 2, 3)]


def bootstrap_auc_diff(y: np.ndarray, a: np.ndarray, b: np.ndarray, n: int = BOOTSTRAP) -> tuple[float, float]:
    """95 % interval of ROC-AUC(a) - ROC-AUC(b) over paired resamples of the customers."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() != y[i].max():
            out.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    return float(np.percentile(out, 2.5)), float(np.percentile(out, 97.5))


def _with_bgnbd_inputs(snapshots: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """BG/NBD's P(buy) at each cutoff, fitted on that cutoff's customers only (no label): a stacking input."""
    parts = []
    for _, part in snapshots.groupby("cutoff", sort=True):
        parts.append(part.assign(bgnbd_p_buy=bgnbd.purchase_probability(part, part, horizon)))
    return pd.concat(parts).loc[snapshots.index]


def _row(data: str, window: date, target: str, name: str, y: np.ndarray, p: np.ndarray, ids, ref) -> dict:
    m = binary_metrics(y, p)
    lo, hi = bootstrap_auc_diff(y, p, ref) if ref is not None else (np.nan, np.nan)
    shares = np.bincount(deciles(p, ids), minlength=11)[1:] / len(p)
    return {
        "data": data,
        "window": str(window),
        "target": target,
        "model": name,
        "ROC-AUC": m["roc_auc"],
        "diff vs BG/NBD [95% CI]": ""
        if ref is None
        else f"{m['roc_auc'] - roc_auc_score(y, ref):+.4f} [{lo:+.4f}, {hi:+.4f}]",
        "PR-AUC": m["pr_auc"],
        "Brier": m["brier"],
        "ECE": m["ece"],
        "mean predicted": m["mean_prediction"],
        "true rate": m["base_rate"],
        "distinct /1000": 1000 * len(np.unique(np.round(p, 12))) / len(p),
        "decile dev": float(np.abs(shares - 0.1).max()),
    }


def snapshots_at(con, cfg, first: date, window: date) -> tuple[pd.DataFrame, SnapshotPlan]:
    """Labelled snapshots (with purchase days) of the plan whose validation cutoff is `window`."""
    plan = plan_snapshots(first, window + timedelta(days=cfg.time.horizon_days), cfg.time)
    cutoffs = [*plan.train, *plan.validation]
    snaps = build_snapshots(DuckDBEngine(con), cutoffs, labelled=cutoffs, time=cfg.time, segments=cfg.segments)
    return snaps.labelled, plan  # the one snapshot step: features, labels and purchase days


def compare_window(snapshots: pd.DataFrame, plan: SnapshotPlan, cfg, data: str) -> list[dict]:
    """Every candidate and baseline at one window, both targets."""
    window = plan.validation[-1]
    fit = fit_purchase(snapshots, plan, cfg.models.lightgbm, season=cfg.models.season_step, refit=False)
    no_step = copy.copy(fit.evaluated)
    no_step.season = 0.0
    stacked_snaps = _with_bgnbd_inputs(snapshots, plan.horizon_days)
    stacked = fit_purchase(
        stacked_snaps, plan, cfg.models.lightgbm, extra_features=("bgnbd_p_buy",), blend=False, refit=False
    )
    rows = []
    for target in ("propensity", "churn"):
        res = _result(target, fit, snapshots, plan, bgnbd=True)
        val = snapshots[snapshots["cutoff"] == window]
        val = val[val[LABEL[target]].notna()]
        flip = (lambda p: 1.0 - p) if target == "churn" else (lambda p: p)
        candidates = {
            SHIPPED: res.scores["model"],
            "blend, no season step": flip(no_step.predict_proba(val[fit.inputs])[:, 1]),
            "LightGBM alone": res.scores["lightgbm_alone"],
            "stacked (BG/NBD input)": flip(stacked.evaluated.predict_proba(stacked_snaps.loc[val.index])[:, 1]),
        }
        ref = res.scores["bgnbd"]
        ids = val["customer_id"].to_numpy()
        for name, p in candidates.items():
            rows.append(_row(data, window, target, name, res.y_val, p, ids, ref))
        for name in ("bgnbd", "rfm_logistic", "recency_rank"):
            rows.append(_row(data, window, target, name, res.y_val, res.scores[name], ids, None))
    return rows


def compare(config_path: Path, label: str) -> list[dict]:
    """All windows of one data set."""
    cfg = load_config(config_path)
    con = connect()
    prepare(con, cfg.data)
    first, last = data_span(con)
    rows = []
    for window in windows(last, cfg):
        snapshots, plan = snapshots_at(con, cfg, first, window)
        rows += compare_window(snapshots, plan, cfg, label)
    return rows


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per candidate: worst and mean propensity gain over BG/NBD, worst ECE, fewest distinct values."""
    prop = rows[rows["target"] == "propensity"]
    ref = prop[prop["model"] == "bgnbd"].set_index(["data", "window"])["ROC-AUC"]
    out = []
    for name, part in prop.groupby("model", sort=False):
        gain = part.set_index(["data", "window"])["ROC-AUC"] - ref
        out.append(
            {
                "model": name,
                "min gain vs BG/NBD": gain.min(),
                "mean gain": gain.mean(),
                "max ECE": part["ECE"].max(),
                "min distinct /1000": part["distinct /1000"].min(),
                "max decile dev": part["decile dev"].max(),
            }
        )
    return pd.DataFrame(out)


def bars(rows: pd.DataFrame) -> pd.DataFrame:
    """The shipped blend against each quality bar of issue 17, from the measured rows (never written by hand)."""
    prop = rows[rows["target"] == "propensity"].set_index(["data", "window"])
    ours, ref = prop[prop["model"] == SHIPPED], prop[prop["model"] == "bgnbd"]["ROC-AUC"]
    gain = (ours["ROC-AUC"] - ref).dropna()
    key = ("Online Retail II", "2011-09-10")
    anchor = ours["ROC-AUC"].get(key)

    def per_set(values: pd.Series, fmt: str) -> str:
        return "; ".join(
            f"{data} " + " / ".join(format(v, fmt) for v in part) for data, part in values.groupby(level=0, sort=False)
        )

    out = [
        ("ROC-AUC >= BG/NBD + 0.003 on every window", per_set(gain, "+.4f"), f"{(gain >= 0.003).sum()} of {len(gain)}"),
        ("mean gain >= +0.010", f"{gain.mean():+.4f} over {len(gain)} windows", "yes" if gain.mean() >= 0.01 else "no"),
        (
            "Online Retail II 2011-09-10 >= 0.812",
            "not run" if anchor is None else f"{anchor:.4f} (BG/NBD {ref.get(key, float('nan')):.4f})",
            "-" if anchor is None else ("yes" if anchor >= 0.812 else "no"),
        ),
        ("ECE <= 0.03 on every window", per_set(ours["ECE"], ".3f"), f"{(ours['ECE'] <= 0.03).sum()} of {len(ours)}"),
        (
            ">= 200 distinct values per 1,000 customers",
            f"{ours['distinct /1000'].min():.0f} to {ours['distinct /1000'].max():.0f}",
            f"{(ours['distinct /1000'] >= 200).sum()} of {len(ours)}",
        ),
        (
            "each decile 10 % +- 1 %",
            f"largest deviation {100 * ours['decile dev'].max():.2f} %",
            f"{(ours['decile dev'] <= 0.01).sum()} of {len(ours)}",
        ),
    ]
    return pd.DataFrame(out, columns=["bar", "measured (shipped blend, propensity)", "windows met"])


def run(results_dir: Path) -> Path:
    """Backtest every data set; write bench/results/models.md."""
    only = os.environ.get("SEGMENT_BENCH_DATA")  # e.g. "orii" while iterating; the full run covers all three
    with tempfile.TemporaryDirectory() as tmp:
        sets = {
            "orii": (REPO / "configs" / "online_retail_ii.yaml", "Online Retail II"),
            "sample": (REPO / "configs" / "default.yaml", "bundled sample"),
            "generated": (None, "generated, 1M lines"),
        }
        rows = []
        for key, (path, label) in sets.items():
            if only and key not in only.split(","):
                continue
            rows += compare(path or _generated_config(Path(tmp)), label)
    df = pd.DataFrame(rows)
    text = header("Models against the corrected BG/NBD, backtest windows (issue 17)", "models")
    text += __doc__.split("\n\n", 1)[1] + "\n## Against the quality bars of issue 17\n\n" + table(bars(df))
    text += "\n## Summary (propensity, every window)\n\n" + table(summary(df), ".4f")
    text += "\n## Every window\n\n" + table(df, ".3f")
    return write(results_dir, "models", text)
