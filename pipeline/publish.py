"""Publish a score date: the Parquet partitions, the database rows, the exports and the HTML summary.

Everything is written under the date's lock. The writers in `outputs.py` each replace their part whole (temporary name,
then rename; one database transaction), so a reader sees the previous or the new state of each part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segment.config import Config, OutputConfig
from segment.pipeline import actions_outputs, outputs
from segment.pipeline.exports import MOVED_FILE, export_rows, moved_to_at_risk
from segment.pipeline.reports import score_summary

if TYPE_CHECKING:
    from segment.pipeline.score import Scored


@dataclass(frozen=True)
class Published:
    """Where the outputs of one score date went."""

    parquet: Path
    database_url: str
    summary: Path  # the HTML summary for marketing
    exports: Path | None
    html: str
    actions: dict[str, int]  # rows per audience and replenishment output


def database_url(cfg: OutputConfig) -> str:
    """The configured URL, or a SQLite file next to the Parquet dataset."""
    return cfg.database_url or f"sqlite:///{Path(cfg.root) / 'segments.db'}"


def publish(scored: Scored, cfg: Config) -> Published:
    """Write every output of `scored` under the lock of (output root, score date)."""
    root, when, out = Path(cfg.output.root), scored.score_date, cfg.output
    url = database_url(out)
    with outputs.score_lock(root, when, cfg.scoring.lock_timeout_seconds):
        previous = outputs.previous_partition(root / "segment_table", when)
        path = outputs.write_partition(scored.table, outputs.inside(root, "segment_table"), when)
        outputs.write_partition(scored.summary, outputs.inside(root, "segment_summary"), when)
        outputs.write_database({out.table: scored.table, out.summary_table: scored.summary}, url, when, out.db_schema)
        exports = None
        if out.exports:
            rows = export_rows(scored.table, scored.extras)
            moved = {MOVED_FILE: moved_to_at_risk(rows, previous[1] if previous else None)}
            exports = outputs.write_exports(rows, scored.attributes, root, when, lists=moved)
        actions_outputs.write(scored.actions, root, when)
        html = score_summary(
            scored.table,
            when,
            *(previous[::-1] if previous else (None, None)),
            drift=scored.drift,
            drift_warn=cfg.scoring.drift_warn_psi,
            not_scored=scored.not_scored,
            extra=[scored.actions.section()],
        )
        summary = outputs.write_text(outputs.inside(root, "reports", f"score-{when}.html"), html)
    return Published(path, url, summary, exports, html, scored.actions.counts())
