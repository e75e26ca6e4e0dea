"""Feature table throughput against pymc-marketing's `rfm_summary`, on the same generated order lines.

Ours: load, validate, clean, build orders and the full customer feature table at the last date, from the
Parquet file. Peer: read the same file into pandas and run `pymc_marketing.clv.utils.rfm_summary` (four
numbers per customer). Each run is a fresh process; the process time of a tiny input (10,000 lines) is
subtracted as fixed start-up cost before computing throughput. The peer is not run at 100 million lines
(pandas would need the whole history in memory). Targets (issue 4): 10x the peer's throughput at 10
million lines (goal 20x); 100 million lines under 4 GiB.
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
    return max(r["process_seconds"] - tiny["process_seconds"], 1e-9)


def run(results_dir: Path) -> Path:
    """Measure ours and the peer at every size; write bench/results/features.md."""
    has_peer = importlib.util.find_spec("pymc_marketing") is not None
    ours_tiny = measure("features", lines_file(TINY))
    peer_tiny = measure("peer", lines_file(TINY)) if has_peer else None
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
        rows.append(row)
    note = f"\nFeature columns per customer: {ours['feature_columns']}. "
    note += f"Start-up (tiny input) process time: ours {ours_tiny['process_seconds']:.2f} s"
    note += f", peer {peer_tiny['process_seconds']:.2f} s.\n" if peer_tiny else "; peer not installed.\n"
    text = header("Feature table throughput (issue 4)", "features") + __doc__.split("\n\n", 1)[1] + "\n"
    return write(results_dir, "features", text + table(pd.DataFrame(rows).fillna("-"), ".2f") + note)
