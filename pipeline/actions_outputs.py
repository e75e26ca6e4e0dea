"""What `segment score` writes for marketing actions: every configured audience and the replenishment list.

`build` computes the frames (pure: the connection with `lines`/`orders`, the segment table and the config
in, frames out) and fails before anything is written when a filter is wrong; `write` stages the date's
folder `actions/score_date=D/` and swaps it in whole, like the per-segment exports:

    actions/score_date=D/audiences/<name>.csv and .parquet   one row per member
    actions/score_date=D/replenishment.csv and .parquet      customer, product, last purchase, due date
    actions/score_date=D/replenishment_intervals.csv         per product: median and quartiles in days
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segment.config import Config
from segment.features.replenishment import replenishment
from segment.pipeline import audiences, csv_write, outputs
from segment.pipeline.htmlpage import Section
from segment.pipeline.progress import info, stage


@dataclass
class ActionFrames:
    """The audiences (export columns) and the replenishment list of one score date."""

    when: date
    audiences: dict[str, pd.DataFrame] = field(default_factory=dict)
    replenishment: pd.DataFrame | None = None
    intervals: pd.DataFrame | None = None

    def counts(self) -> dict[str, int]:
        """Rows per output, for the score summary and the MLflow run."""
        out = {f"audience_{name}": len(df) for name, df in self.audiences.items()}
        if self.replenishment is not None:
            out["replenishment_due"] = len(self.replenishment)
            out["replenishment_products"] = len(self.intervals)
        return out

    def section(self) -> Section:
        """The part of the HTML score summary that shows these counts."""
        s = Section("Audiences and replenishment")
        rows = [{"output": f"audience {n}", "customers": len(df)} for n, df in self.audiences.items()]
        if self.replenishment is not None:
            rows.append({"output": "due for refill (customer, product)", "customers": len(self.replenishment)})
            rows.append({"output": "products with a repurchase interval", "customers": len(self.intervals)})
        if not rows:
            s.notes.append("No audiences configured and replenishment off.")
        else:
            s.table(pd.DataFrame(rows))
        if self.intervals is not None and len(self.intervals):
            s.table(self.intervals.head(15), caption="products with the shortest median repurchase interval", floats=1)
        return s


def refills(con: duckdb.DuckDBPyConnection, cfg: Config, when: date) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(per-product intervals, due list) at `when`, or None when disabled or products are not mapped.

    Scoring asks for it before any customer frame exists: at 100M lines its DuckDB work takes the whole
    memory limit (4 GiB), which on top of the scored frames made the score's peak (8.6 GiB).
    """
    rep = cfg.replenishment
    if rep.enabled and "product_id" in con.table("lines").columns:
        with stage("replenishment intervals and due list"):
            return replenishment(con, when, rep.min_customers, rep.due_within_days)
    if rep.enabled:
        info("[yellow]replenishment:[/yellow] data.columns.product_id is not mapped; no replenishment list")
    return None


def build(
    con: duckdb.DuckDBPyConnection,
    table: pd.DataFrame,
    cfg: Config,
    when: date,
    attributes: pd.DataFrame | None,
    lists: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> ActionFrames:
    """Every configured audience at `when` and the replenishment `lists` (`refills`) when there are any."""
    frames = ActionFrames(when)
    seg = table.astype({"customer_id": str})
    if cfg.audiences:
        with stage(f"{len(cfg.audiences)} audiences"):
            for name, f in cfg.audiences.items():
                members = audiences.select(con, seg, f, when, name).members
                frames.audiences[name] = audiences.export_frame(members, attributes)
    if lists is not None:
        frames.intervals, frames.replenishment = lists
    return frames


def _parquet(df: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def folder(root: Path, when: date) -> Path:
    """actions/score_date=D under the output root."""
    return outputs.inside(root, "actions", f"score_date={when.isoformat()}")


def write_into(frames: ActionFrames, staging: Path) -> None:
    """The date's action files in `staging` (a folder staged by the caller, swapped in whole)."""
    (staging / "audiences").mkdir(parents=True, exist_ok=True)
    for name, df in frames.audiences.items():
        csv_write.write_frame(df, staging / "audiences" / f"{name}.csv")  # = to_csv, built column-wise
        _parquet(df, staging / "audiences" / f"{name}.parquet")
    if frames.replenishment is not None:
        csv_write.write_frame(frames.replenishment, staging / "replenishment.csv")
        _parquet(frames.replenishment, staging / "replenishment.parquet")
        csv_write.write_frame(frames.intervals, staging / "replenishment_intervals.csv")


def write(frames: ActionFrames, root: Path, when: date) -> Path:
    """Stage the date's folder and swap it in whole (readers see the old or the new set, never a mix)."""
    final = folder(root, when)
    final.parent.mkdir(parents=True, exist_ok=True)
    outputs._repair(final)
    staging = final.parent / f".staging-{final.name}-{uuid.uuid4().hex}"
    try:
        write_into(frames, staging)
        outputs.pause_before_swap()
        trash = final.parent / f".trash-{final.name}-{uuid.uuid4().hex}"
        if final.exists():
            final.rename(trash)
        staging.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def write_audience(df: pd.DataFrame, root: Path, when: date, name: str) -> Path:
    """Replace one audience's CSV and Parquet in the date's folder, each by a temporary file and a rename."""
    base = folder(root, when) / "audiences"
    base.mkdir(parents=True, exist_ok=True)
    parquet = base / f"{name}.parquet"
    tmp = parquet.with_name(f".{parquet.name}.{uuid.uuid4().hex}.tmp")
    try:
        _parquet(df, tmp)
        outputs.write_text(base / f"{name}.csv", df.to_csv(index=False))
        tmp.replace(parquet)
    finally:
        tmp.unlink(missing_ok=True)
    return base / f"{name}.csv"
