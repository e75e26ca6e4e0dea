"""Feature table throughput against pymc-marketing's `rfm_summary`, on the same generated order lines.

Ours: load, validate, clean, build orders and the full customer feature table at the last date, from the
Parquet file. Peer: read the same file into pandas and run `pymc_marketing.clv.utils.rfm_summary` (four
numbers per customer). Each run is a fresh process; the process time of a tiny input (10,000 lines) is
subtracted as fixed start-up cost before computing throughput. The peer is not run at 100 million lines
(pandas would need the whole history in memory). Where a run is within start-up noise of the tiny
input, its throughput is shown as nan. Targets (issue 4): 10x the peer's throughput at 10
million lines (goal 20x); 100 million lines under 4 GiB.

The "floor" columns are not a pipeline: a fresh DuckDB process that reads the file and removes exact
duplicate lines (`SELECT DISTINCT *`), with no memory limit, and does nothing else. Every correct
pipeline must remove them (DESIGN: the same line can appear twice, e.g. in the two overlapping yearly
files), so the floor's throughput over the peer's bounds the ratio any DuckDB pipeline can reach here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from bench.common import header, measure, table, write
from bench.generate import lines_file

TINY = 10_000
SIZES = (1_000_000, 10_000_000, 100_000_000)
PEER_MAX = 10_000_000
GIB = 1024**3


def _net(r: dict, tiny: dict) -> float:
    """Process time minus start-up; NaN when the difference is within start-up noise."""
    net = r["process_seconds"] - tiny["process_seconds"]
    return net if net > 0.1 * r["process_seconds"] else float("nan")


def _startup(task: str) -> dict:
    """The fastest of three tiny-input runs: start-up time varies run to run (imports, disk cache)."""
    return min((measure(task, lines_file(TINY)) for _ in range(3)), key=lambda r: r["process_seconds"])


def run(results_dir: Path) -> Path:
    """Measure ours and the peer at every size; write bench/results/features.md."""
    has_peer = importlib.util.find_spec("pymc_marketing") is not None
    ours_tiny = _startup("features")
    peer_tiny = _startup("peer") if has_peer else None
    floor_tiny = _startup("floor")
    rows = []
    for n in SIZES:
        ours = measure("features", lines_file(n))
        row = {
            "lines": f"{n:,}",
            "customers": f"{ours['customers']:,}",
            "ours s (process)": ours["process_seconds"],
            "ours s (net of start-up)": _net(ours, ours_tiny),
            "ours lines/s": f"{n / _net(ours, ours_tiny):,.0f}",
            "ours peak GiB": ours["peak_bytes"] / GIB,
        }
        if has_peer and n <= PEER_MAX:
            peer = measure("peer", lines_file(n))
            row |= {
                "peer s (process)": peer["process_seconds"],
                "peer lines/s": f"{n / _net(peer, peer_tiny):,.0f}",
                "peer peak GiB": peer["peak_bytes"] / GIB,
                "throughput ratio ours/peer": _net(peer, peer_tiny) / _net(ours, ours_tiny),
            }
            floor = measure("floor", lines_file(n))
            row |= {
                "floor lines/s": f"{n / _net(floor, floor_tiny):,.0f}",
                "floor ratio/peer (bound)": _net(peer, peer_tiny) / _net(floor, floor_tiny),
            }
        rows.append(row)
    note = f"\nFeature columns per customer: {ours['feature_columns']}. "
    note += f"Start-up (tiny input) process time: ours {ours_tiny['process_seconds']:.2f} s"
    note += f", peer {peer_tiny['process_seconds']:.2f} s.\n" if peer_tiny else "; peer not installed.\n"
    text = header("Feature table throughput (issue 4)", "features") + __doc__.split("\n\n", 1)[1] + "\n"
    return write(results_dir, "features", text + table(pd.DataFrame(rows).fillna("-"), ".2f") + note)
