"""Publish a score date: the Parquet partitions, the database rows, the exports and the HTML summary.

One commit for all of them (and the actions folder) under the date's lock (`publication.publication`): everything
is staged and checked, then the database commits and the files are renamed in, or nothing visible changes
(docs/scoring.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segment.config import Config, OutputConfig
from segment.pipeline import actions_outputs, database, publication
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
    """The configured URL, or a SQLite file next to the Parquet dataset (built by SQLAlchemy)."""
    return database.database_url(cfg)


def publish(scored: Scored, cfg: Config) -> Published:
    """Write every output of `scored` in one commit under the lock of (output root, score date)."""
    when, out = scored.score_date, cfg.output
    exports = None
    with publication.publication(out, when, cfg.scoring.lock_timeout_seconds) as pub:
        previous = pub.previous()
        path = pub.stage_partition("segment_table", scored.table)
        pub.stage_partition("segment_summary", scored.summary)
        if out.exports:
            rows = export_rows(scored.table, scored.extras)
            moved = {MOVED_FILE: moved_to_at_risk(rows, previous[1] if previous else None)}
            exports = pub.stage_exports(rows, scored.attributes, lists=moved)
        pub.stage_folder(
            lambda staging: actions_outputs.write_into(scored.actions, staging), "actions", f"score_date={when}"
        )
        html = score_summary(
            scored.table,
            when,
            *(previous[::-1] if previous else (None, None)),
            drift=scored.drift,
            drift_warn=cfg.scoring.drift_warn_psi,
            not_scored=scored.not_scored,
            extra=[scored.actions.section()],
        )
        summary = pub.stage_text(html, "reports", f"score-{when}.html")
        pub.stage_rows({out.table: scored.table, out.summary_table: scored.summary})
    return Published(path, database_url(out), summary, exports, html, scored.actions.counts())
