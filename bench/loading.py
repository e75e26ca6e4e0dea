"""Loading at scale: load, validate, clean and build orders from 1, 10 and 100 million generated lines.

Each size runs in a fresh process; peak memory is that process's maximum resident set. Target (issue 3):
100 million lines under 4 GiB.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.common import header, measure, table, write
from bench.generate import lines_file

SIZES = (1_000_000, 10_000_000, 100_000_000)
GIB = 1024**3


def run(results_dir: Path) -> Path:
    """Measure every size and write bench/results/loading.md."""
    rows = []
    for n in SIZES:
        r = measure("prepare", lines_file(n))
        rows.append(
            {
                "lines": f"{r['rows']:,}",
                "customers": f"{r['customers']:,}",
                "seconds (work)": r["work_seconds"],
                "seconds (process)": r["process_seconds"],
                "lines per second": f"{r['rows'] / r['work_seconds']:,.0f}",
                "peak memory GiB": r["peak_bytes"] / GIB,
            }
        )
    text = (
        header("Loading at scale (issue 3)", "loading")
        + __doc__.split("\n\n", 1)[1]
        + "\n"
        + table(pd.DataFrame(rows), ".2f")
    )
    return write(results_dir, "loading", text)
