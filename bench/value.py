"""Value and timing models against every baseline, out of time, on each data set the benchmark covers.

For each horizon H (90 days; 365 where the data is long enough) the validation cutoff is the last date - H
and nothing of (cutoff, last date] is seen before scoring: the models train on the stacked cutoffs of
`features/snapshots.py` (every label window ends by the validation cutoff), BG/NBD x Gamma-Gamma is fitted on
the purchase-day summary at the cutoff. "tweedie" / "hurdle" are the two value designs (the model row is
`value.model`); "last_h_days" predicts the revenue of (t - H, t] again. Timing: the grid is 7, 14, 30, 60,
90 days; "hazard (ours)" dates the customers with P(order within 90 days) >= 50 % at their median day given
an order within the grid (rule `likely`), "rule crossing" at the day P(within d) itself reaches 50 % (the
same customers), "rule conditional" dates everyone at that median day; "constant" is the training rows'
median day; "klaviyo" last order + mean days between orders (no date for one-order customers); "bgnbd"
the day BG/NBD's P(within d) reaches 50 %, "bgnbd_likely" our rule on BG/NBD's curve. Date errors are over the customers
who ordered again within 90 days, a missing date or one past day 90 counting as day 90; "if dated" over
those of them the method gave a date, against the constant on the same customers.
Quality bars (issue 18): value at 90 days Spearman and normalised Gini >= +0.01 over BG/NBD x Gamma-Gamma and
over last_h_days on every set, bias in [0.90, 1.10]; timing median absolute error >= 10 % below the best
constant (skill >= 0.10) and below both baselines, ECE of P(within 30 / 90 days) <= 0.03.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from bench.common import REPO, header, table, write
from bench.generate import COLUMNS, lines_file
from segment.errors import InputError
from segment.features.snapshots import plan_snapshots
from segment.models.btyd import value_snapshots
from segment.models.timing import fit_timing, timing_grid
from segment.models.value import fit_value
from segment.models.value_baselines import purchase_day_summary
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, data_span, prepare

HORIZONS = (90, 365)
GENERATED_LINES = 1_000_000


def _generated_config(folder: Path) -> Path:
    path = folder / "generated.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": [str(lines_file(GENERATED_LINES))], "columns": COLUMNS}}))
    return path


def compare(
    config_path: Path, label: str, overrides: list[str] | None = None
) -> tuple[list[dict], list[dict], list[str]]:
    """Value rows (per horizon and method), timing rows (per method) and notes for one data set."""
    cfg = load_config(config_path, overrides)
    con = connect()
    prepare(con, cfg.data)
    first, last = data_span(con)
    value_rows, timing_rows, notes = [], [], []
    for h in HORIZONS:
        try:
            plan = plan_snapshots(first, last, cfg.time.model_copy(update={"horizon_days": h}))
        except InputError as exc:
            notes.append(f"{label}, {h} days: skipped, {exc}")
            continue
        start = time.perf_counter()
        grid, _ = timing_grid(cfg.value, h)
        cutoffs = [*plan.train, *plan.validation]
        snaps = value_snapshots(con, cutoffs, horizon_days=h, grid_end=grid[-1], feature_horizon=cfg.time.horizon_days)
        summary = purchase_day_summary(con, plan.validation[-1])
        cap = {"max_rows": cfg.models.max_training_rows, "seed": cfg.models.lightgbm.random_state}  # as train
        result = fit_value(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary, compare=True, **cap)
        seconds = time.perf_counter() - start
        print(f"bench value: {label} {h}d value done in {seconds:.0f} s", file=sys.stderr)
        for name, m in result.metrics.items():
            value_rows.append(
                {
                    "data": label,
                    "H": h,
                    "validation cutoff": str(plan.validation[-1]),
                    "method": f"{cfg.value.model} (ours)" if name == "model" else name,
                    "Spearman": m["spearman"],
                    "norm. Gini": m["gini"],
                    "top-decile capture": m["top_decile_capture"],
                    "MAE": m["mae"],
                    "RMSE": m["rmse"],
                    "bias": m["bias"],
                    "customers": len(result.y_val),
                }
            )
        notes += [f"{label}, {h} days: {k}: {v}" for k, v in result.notes.items()]
        notes.append(
            f"{label}, {h} days: {result.rows['validation_negative_windows_per_mille']} per mille of validation "
            f"customers had more returns than purchases in the window (label 0)"
        )
        if h != HORIZONS[0]:
            continue
        timing = fit_timing(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary, **cap)
        print(f"bench value: {label} timing done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        for name, m in timing.metrics.items():
            timing_rows.append(
                {
                    "data": label,
                    "validation cutoff": str(plan.validation[-1]),
                    "method": "hazard (ours)" if name == "model" else name.replace("model_", "hazard, rule "),
                    "median abs. error (days)": m["mae_days"],
                    "skill vs constant": m.get("skill", float("nan")),
                    "dated share": m["dated_share"],
                    "error if dated (days)": m["mae_days_dated"],
                    "skill if dated": m.get("skill_dated", float("nan")),
                    "ECE 30d": m.get("ece_30", float("nan")),
                    "ECE 90d": m.get("ece_90", float("nan")),
                    "P(30d) mean / rate": f"{m['mean_p_30']:.3f} / {m['rate_30']:.3f}" if "mean_p_30" in m else "",
                    "re-ordered share": m["reordered_share"],
                }
            )
        notes += [f"{label}, timing: {k}: {v}" for k, v in timing.notes.items()]
    return value_rows, timing_rows, notes


DATASETS = {"sample": "bundled sample", "online_retail_ii": "Online Retail II", "generated": "generated, 1M lines"}


def run(results_dir: Path, only: list[str] | None = None) -> Path:
    """Compare on every data set; write bench/results/value.md."""
    value_rows, timing_rows, notes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {
            "sample": REPO / "configs" / "default.yaml",
            "online_retail_ii": REPO / "configs" / "online_retail_ii.yaml",
            "generated": None,
        }
        for key in only or list(DATASETS):
            path = paths[key] or _generated_config(Path(tmp))
            # a git worktree is not beside ../shared: ONLINE_RETAIL_II=/path/to/folder points at the files
            folder = os.environ.get("ONLINE_RETAIL_II") if key == "online_retail_ii" else None
            overrides = [f"data.source=[{folder}/*.parquet]"] if folder else None
            v, t, n = compare(path, DATASETS[key], overrides)
            value_rows, timing_rows, notes = value_rows + v, timing_rows + t, notes + n
    text = header("Value and timing models against baselines (issue 18)", "value") + __doc__.split("\n\n", 1)[1]
    text += "\n## Value: net revenue in (t, t + H]\n\n" + table(pd.DataFrame(value_rows), ".3f")
    text += "\n## Timing: next purchase order within the 90-day grid\n\n" + table(pd.DataFrame(timing_rows), ".3f")
    text += "\n## Notes\n\n" + "".join(f"- {n}\n" for n in notes)
    return write(results_dir, "value", text)


if __name__ == "__main__":  # `python -m bench.value [sample online_retail_ii generated]`: a subset, for iterating
    print(run(Path(__file__).parent / "results", sys.argv[1:] or None))
