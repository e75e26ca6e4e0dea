"""Batch scoring at scale: about a million customers scored end to end, as `segment score` runs nightly.

Models are trained on a small generated file (1 million lines); the score run reads the first ~33 million
generated lines (about 1 million customers), builds their features, scores them with the champions, and
writes every output (Parquet partitions, the SQLite table and summary, per-segment CSVs, HTML summary).
One fresh process each; peak memory is that process's maximum resident set.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import yaml

from bench.common import header, measure, table, write
from bench.generate import COLUMNS, lines_file

TRAIN_LINES = 1_000_000
SCORE_LINES = 33_000_000
GIB = 1024**3


def _config(folder: Path, source: Path) -> Path:
    path = folder / f"{source.stem}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {"source": [str(source)], "columns": COLUMNS},
                "tracking": {"uri": "sqlite:///mlflow.db", "artifact_root": "mlartifacts", "experiment": "bench"},
                "output": {"root": "output"},
            }
        )
    )
    return path


def run(results_dir: Path) -> Path:
    """Train small, score big; write bench/results/scoring.md."""
    with tempfile.TemporaryDirectory(prefix="segment-bench-") as tmp:
        folder = Path(tmp)
        trained = measure("train", _config(folder, lines_file(TRAIN_LINES)))
        scored = measure("score", _config(folder, lines_file(SCORE_LINES)))
    rows = [
        {
            "step": "train (1M lines)",
            "lines": f"{trained['rows']:,}",
            "customers": f"{trained['customers']:,}",
            "seconds": trained["process_seconds"],
            "peak memory GiB": trained["peak_bytes"] / GIB,
        },
        {
            "step": "score (all outputs)",
            "lines": f"{scored['rows']:,}",
            "customers": f"{scored['customers']:,}",
            "seconds": scored["process_seconds"],
            "peak memory GiB": scored["peak_bytes"] / GIB,
        },
    ]
    text = header("Batch scoring at scale (issue 7)", "scoring") + __doc__.split("\n\n", 1)[1] + "\n"
    return write(results_dir, "scoring", text + table(pd.DataFrame(rows), ".2f"))
