"""Where users wait: `segment train` and `segment score` as a user runs them, and the RFM peer row.

Each command runs as its own process under `/usr/bin/time` (wall, user + system CPU, peak resident
memory of the whole process), on 1 million generated lines and on Online Retail II, each data set with
its own throwaway MLflow store and output folder. Repeats are interleaved (every data set and command
once, then again), and the summary gives the median with the min-max. The one-minute load average is
recorded before every run; a run started above 1.5 per core is flagged, because on this shared
machine such a run measures the neighbours as much as the code.

Peer row, like for like: the four RFM numbers per customer (frequency, recency, T, monetary value in
pymc-marketing's definitions: repeat purchase days, days from first to last purchase day, days from
first purchase day to the last date, mean value of the repeat days) from the raw generated lines, no
cleaning on either side: pandas + `pymc_marketing.clv.utils.rfm_summary` against one DuckDB query, in
fresh processes, checked equal (rtol 1e-9) before any time is reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from bench.common import REPO, header, table, write
from bench.generate import COLUMNS, lines_file

REPEATS = 3
GIB = 1024**3
RETAIL = REPO.parent / "shared" / "data" / "online_retail_ii"
BUSY_PER_CORE = 1.5

RFM_SQL = """
WITH d AS (
    SELECT "Customer ID" AS customer_id, CAST(InvoiceDate AS DATE) AS day, sum(Quantity * Price) AS m
    FROM read_parquet($p) WHERE "Customer ID" IS NOT NULL GROUP BY ALL
),
f AS (SELECT *, min(day) OVER (PARTITION BY customer_id) AS first_day FROM d)
SELECT customer_id, CAST(count(*) - 1 AS DOUBLE) AS frequency,
    CAST(date_diff('day', min(day), max(day)) AS DOUBLE) AS recency,
    CAST(date_diff('day', min(day), (SELECT max(CAST(InvoiceDate AS DATE)) FROM read_parquet($p))) AS DOUBLE) AS T,
    coalesce(avg(CASE WHEN day > first_day THEN m END), 0) AS monetary_value
FROM f GROUP BY customer_id ORDER BY customer_id
"""

PEER = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from pymc_marketing.clv.utils import rfm_summary
t = time.perf_counter()
df = pd.read_parquet(sys.argv[1], columns=["Customer ID", "InvoiceDate", "Quantity", "Price"])
df["monetary"] = df["Quantity"] * df["Price"]
s = rfm_summary(df, "Customer ID", "InvoiceDate", monetary_value_col="monetary")
w = time.perf_counter() - t
s.sort_values("customer_id").to_parquet(sys.argv[2])
print(json.dumps({"work": w}))
"""

OURS = """
import json, sys, time
import duckdb
t = time.perf_counter()
s = duckdb.connect().execute(sys.argv[3], {"p": sys.argv[1]}).df()
w = time.perf_counter() - t
s.to_parquet(sys.argv[2])
print(json.dumps({"work": w}))
"""


def _config(folder: Path, source: list[str], base: dict | None = None) -> Path:
    raw = dict(base or {})
    raw["data"] = {**raw.get("data", {}), "source": source, "columns": raw.get("data", {}).get("columns", COLUMNS)}
    raw["tracking"] = {"uri": f"sqlite:///{folder}/mlflow.db", "artifact_root": str(folder / "mlartifacts")}
    raw["output"] = {"root": str(folder / "output")}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _timed(cmd: list[str]) -> dict:
    """Run `cmd` under /usr/bin/time; wall, CPU, peak RSS and the load average before it started."""
    load = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-o", out.name, "-f", "%U %S %M", *cmd], capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        user, system, kib = out.read().split()[-3:]
    busy = load > BUSY_PER_CORE * (os.cpu_count() or 1)
    return {"wall": wall, "cpu": float(user) + float(system), "peak": int(kib) * 1024 / GIB, "load": load, "busy": busy}


def _summary(runs: list[dict], key: str, fmt: str = ".1f") -> str:
    values = [r[key] for r in runs]
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _peer_rows(path: Path, folder: Path) -> dict:
    """The RFM four numbers: pandas + rfm_summary vs one DuckDB query; checked equal, then timed."""
    peer_out, ours_out = folder / "peer.parquet", folder / "ours.parquet"
    peer = _timed([sys.executable, "-c", PEER, str(path), str(peer_out)])
    ours = _timed([sys.executable, "-c", OURS, str(path), str(ours_out), RFM_SQL])
    a = pd.read_parquet(peer_out).astype({"customer_id": str}).sort_values("customer_id", ignore_index=True)
    b = pd.read_parquet(ours_out).astype({"customer_id": str}).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(a[b.columns], b, rtol=1e-9, check_dtype=False)
    return {"peer": peer, "ours": ours, "customers": len(b)}


def run(results_dir: Path) -> Path:
    """Time train and score on each data set, interleaved; the RFM peer row; write performance.md."""
    segment = str(Path(sys.executable).parent / "segment")
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        sets: dict[str, Path] = {}
        folder = Path(tmp) / "generated_1m"
        folder.mkdir()
        sets["1M generated lines"] = _config(folder, [str(lines_file(1_000_000))])
        if RETAIL.exists():
            folder = Path(tmp) / "online_retail_ii"
            folder.mkdir()
            base = yaml.safe_load((REPO / "configs" / "online_retail_ii.yaml").read_text())
            sets["Online Retail II"] = _config(folder, [str(RETAIL)], base)
        runs: list[dict] = []
        for rep in range(REPEATS):
            for name, cfg in sets.items():
                for command in ("train", "score"):
                    r = _timed([segment, command, "--config", str(cfg), "--quiet"])
                    runs.append({"data": name, "command": command, "repeat": rep + 1} | r)
                    print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        peers = [_peer_rows(lines_file(1_000_000), Path(tmp)) for _ in range(REPEATS)]
    rows = []
    for (name, command), group in pd.DataFrame(runs).groupby(["data", "command"], sort=False):
        g = group.to_dict("records")
        rows.append(
            {
                "data": name,
                "command": f"segment {command}",
                "wall s median (min-max)": _summary(g, "wall"),
                "CPU s median (min-max)": _summary(g, "cpu"),
                "peak GiB median (min-max)": _summary(g, "peak", ".2f"),
                "load1 at start": ", ".join(f"{r['load']:.1f}" for r in g),
                "runs above 1.5/core": sum(r["busy"] for r in g),
            }
        )
    for side in ("ours", "peer"):
        g = [p[side] for p in peers]
        rows.append(
            {
                "data": "1M generated lines",
                "command": "RFM four numbers: " + ("DuckDB query" if side == "ours" else "pandas + rfm_summary"),
                "wall s median (min-max)": _summary(g, "wall", ".2f"),
                "CPU s median (min-max)": _summary(g, "cpu", ".2f"),
                "peak GiB median (min-max)": _summary(g, "peak", ".2f"),
                "load1 at start": ", ".join(f"{r['load']:.1f}" for r in g),
                "runs above 1.5/core": sum(r["busy"] for r in g),
            }
        )
    ratio = statistics.median(p["peer"]["wall"] / p["ours"]["wall"] for p in peers)
    note = (
        f"\nRFM peer rows: {peers[0]['customers']:,} customers, equal to rtol 1e-9; process wall time "
        f"(start-up included) ratio peer/ours, median of {REPEATS}: {ratio:.1f}x.\n"
        "Every run: " + "; ".join(f"{r['data']} {r['command']} #{r['repeat']}: {r['wall']:.0f} s" for r in runs) + "\n"
    )
    text = header("Train and score as users run them (issue 20)", "performance") + __doc__.split("\n\n", 1)[1]
    return write(results_dir, "performance", text + "\n" + table(pd.DataFrame(rows)) + note)
