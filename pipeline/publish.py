"""Publish a score date: the Parquet partitions, the database rows, the exports and the HTML summary.

One commit for all of them under the date's lock (`outputs.publish_score`): everything is staged and checked,
then the database commits and the files are renamed in, or nothing visible changes (docs/scoring.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from segment.config import Config, OutputConfig
from segment.pipeline import outputs
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


def database_url(cfg: OutputConfig) -> str:
    """The configured URL, or a SQLite file next to the Parquet dataset (built by SQLAlchemy)."""
    return outputs.database_url(cfg)


def publish(scored: Scored, cfg: Config) -> Published:
    """Write every output of `scored` under the lock of (output root, score date)."""
    html = ""

    def report(previous: tuple[date, pd.DataFrame] | None) -> str:  # rendered under the lock: previous is stable
        nonlocal html
        html = score_summary(
            scored.table,
            scored.score_date,
            *(previous[::-1] if previous else (None, None)),
            drift=scored.drift,
            drift_warn=cfg.scoring.drift_warn_psi,
            not_scored=scored.not_scored,
        )
        return html

    out = outputs.publish_score(
        cfg.output,
        scored.score_date,
        scored.table,
        scored.summary,
        attributes=scored.attributes,
        report=report,
        lock_timeout=cfg.scoring.lock_timeout_seconds,
    )
    return Published(out.parquet, out.database_url, out.report, out.exports, html)
