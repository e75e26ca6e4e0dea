"""Like-for-like peer rows: each pair of processes produces the same table, checked equal before it is timed.

- RFM four numbers (pymc-marketing's definitions) from the raw generated lines: pandas + `rfm_summary`
  against one DuckDB query, both without cleaning, and both after the same exact-duplicate removal
  (every column compared: `drop_duplicates()` / `SELECT DISTINCT *`). Equal to rtol 1e-9.
- The full customer feature table at one cutoff (the last purchase date) from the same prepared `lines`
  and `orders`: `customer_features` on DuckDB against bench/pandas_features.py. Equal to rtol 1e-9.

A pair that is not equal stops the benchmark: a time for a different answer is not a comparison.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from bench.pandas_features import same_table
from bench.perf_runs import timed

CHILD = [sys.executable, "-m", "bench.perf_child"]


def _sorted(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).astype({"customer_id": str}).sort_values("customer_id", ignore_index=True)


def rfm_pair(data: Path, folder: Path, dedup: bool) -> dict:
    """One run of each side of the RFM row; raises AssertionError unless their tables are equal."""
    mode = "dedup" if dedup else "raw"
    peer_out, ours_out = folder / f"rfm_peer_{mode}.parquet", folder / f"rfm_ours_{mode}.parquet"
    peer = timed([*CHILD, "rfm-peer", str(data), str(peer_out), mode])
    ours = timed([*CHILD, "rfm-ours", str(data), str(ours_out), mode])
    a, b = _sorted(peer_out), _sorted(ours_out)
    pd.testing.assert_frame_equal(a[b.columns], b, rtol=1e-9, check_dtype=False)
    return {"peer": peer, "ours": ours, "customers": len(b)}


def prepared(config: Path, folder: Path) -> dict:
    """Prepare once (not timed): `lines` and `orders` in FOLDER, and the cutoff and horizon to use."""
    folder.mkdir(parents=True, exist_ok=True)
    return timed([*CHILD, "prepared", str(config), str(folder)])


def features_pair(folder: Path, prep: dict) -> dict:
    """One run of each side of the feature-table row; raises AssertionError unless their tables are equal."""
    args = [str(folder), prep["cutoff"], str(prep["horizon"])]
    ours_out, peer_out = folder / "features_ours.parquet", folder / "features_pandas.parquet"
    ours = timed([*CHILD, "features-ours", *args, str(ours_out)])
    peer = timed([*CHILD, "features-pandas", *args, str(peer_out)])
    a = pd.read_parquet(ours_out)
    same_table(a, pd.read_parquet(peer_out))
    return {"peer": peer, "ours": ours, "customers": len(a), "columns": a.shape[1] - 2}


def peer_round(data: Path, folder: Path, prep: dict) -> list[dict]:
    """One round of the three pairs on one data set (`prep` from `prepared(config, folder / "prepared")`)."""
    pairs = (
        ("RFM, no cleaning", lambda: rfm_pair(data, folder, dedup=False)),
        ("RFM, exact duplicates removed", lambda: rfm_pair(data, folder, dedup=True)),
        ("feature table, 1 cutoff", lambda: features_pair(folder / "prepared", prep)),
    )
    return [{"pair": pair, "prepared_lines": prep["lines"], **result()} for pair, result in pairs]


def compact(run: dict) -> str:
    """One JSON line of a pair's run for the progress log."""
    keep = ("wall", "cpu", "peak", "load", "work")
    sides = {s: {k: round(run[s][k], 2) for k in keep if k in run[s]} for s in ("ours", "peer")}
    return json.dumps({"pair": run["pair"], "repeat": run["repeat"], **sides})
