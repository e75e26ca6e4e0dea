"""Measured processes for the performance section: which data sets, how often, and one timed command.

`BENCH_PERF_SIZES` picks the data sets (comma-separated keys of `SETS`: `1m,retail,10m,100m`); by default
every one whose data exists (1M lines are generated when missing, the larger files only when named).
`BENCH_PERF_REPEATS` is a default count with per-set overrides, e.g. `3` or `3,10m=1,100m=1` (default 3).
Generated files are read from $BENCH_DATA (bench/generate.py `lines_file`), Online Retail II from
$BENCH_RETAIL (default: `shared/data/online_retail_ii` beside the repo or beside its parent folder).
`BENCH_PERF_PAGE` names the results page (default `performance`: bench/results/performance.md), so a run
of other sets can be kept beside an earlier one instead of replacing it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import REPO
from bench.generate import COLUMNS, DATA, lines_file

GIB = 1024**3
BUSY_PER_CORE = 1.5
# Online Retail II: $BENCH_RETAIL, else ../shared beside the repo (a main checkout) or beside its parent (a
# git worktree in wt/NAME)
_RETAIL_AT = [base / "shared" / "data" / "online_retail_ii" for base in (REPO.parent, REPO.parents[1])]
RETAIL = Path(os.environ.get("BENCH_RETAIL") or next((p for p in _RETAIL_AT if p.exists()), _RETAIL_AT[0]))
SETS = {"1m": 1_000_000, "retail": None, "10m": 10_000_000, "100m": 100_000_000}  # the order they run in
LABELS = {"1m": "1M generated lines", "10m": "10M generated lines", "100m": "100M generated lines"}
LABELS["retail"] = "Online Retail II"


def page() -> str:
    """The results page's name (bench/results/<page>.md)."""
    return os.environ.get("BENCH_PERF_PAGE", "performance")


def generated(rows: int, seed: int = 0) -> Path:
    """Where `lines_file` keeps (or would make) the generated file of `rows` lines."""
    return DATA / f"lines_{rows}_seed{seed}.parquet"


def selected() -> list[str]:
    """Keys of the data sets to measure, in `SETS` order."""
    named = [k.strip().lower() for k in os.environ.get("BENCH_PERF_SIZES", "").split(",") if k.strip()]
    unknown = sorted(set(named) - set(SETS))
    if unknown:
        raise SystemExit(f"BENCH_PERF_SIZES: unknown {unknown}; choose from {list(SETS)}")
    if named:
        return [k for k in SETS if k in named]
    there = {k: RETAIL.exists() if rows is None else k == "1m" or generated(rows).exists() for k, rows in SETS.items()}
    return [k for k in SETS if there[k]]


def repeats(keys: list[str]) -> dict[str, int]:
    """Repeats per data set from `BENCH_PERF_REPEATS` (`N` or `N,key=M,...`; default 3)."""
    default, override = 3, {}
    for part in filter(None, (p.strip() for p in os.environ.get("BENCH_PERF_REPEATS", "").split(","))):
        key, _, value = part.rpartition("=")
        if key:
            override[key.strip().lower()] = int(value)
        else:
            default = int(value)
    return {k: override.get(k, default) for k in keys}


def source(key: str) -> Path:
    """The data of one set (generated files are made on first use when missing)."""
    return RETAIL if SETS[key] is None else lines_file(SETS[key])


def write_config(folder: Path, key: str) -> Path:
    """A config for one set with its own throwaway MLflow store and output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load((REPO / "configs" / "online_retail_ii.yaml").read_text()) if key == "retail" else {}
    raw = dict(base)
    raw["data"] = {**raw.get("data", {}), "source": [str(source(key))], "columns": COLUMNS}
    if key == "retail":
        raw["data"]["source"] = [str(RETAIL / "*.parquet")]
    raw["tracking"] = {"uri": f"sqlite:///{folder}/mlflow.db", "artifact_root": str(folder / "mlartifacts")}
    raw["output"] = {"root": str(folder / "output")}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def timed(cmd: list[str], env: dict[str, str] | None = None, may_fail: bool = False) -> dict:
    """Run `cmd` under /usr/bin/time: wall, CPU (user + system), peak RSS, load average before it, its JSON.

    A failed command raises, unless `may_fail`: then the result says how it ended (`failed`: the exit
    status or the signal, e.g. the kernel's out-of-memory kill) with its time and peak up to then.
    """
    load = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-o", out.name, "-f", "%U %S %M", *cmd],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        wall = time.perf_counter() - start
        report = out.read()
        if proc.returncode != 0 and not may_fail:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        numbers = report.split()[-3:]
        # /usr/bin/time itself killed (e.g. a kill of the whole command line): no figures, the run still counts
        user, system, kib = (
            numbers if len(numbers) == 3 and all(n.isdigit() or "." in n for n in numbers) else ("nan", "nan", "0")
        )
    failed = {}
    if proc.returncode != 0:
        signal = re.search(r"terminated by signal (\d+)", report)
        failed = {"failed": f"killed by signal {signal.group(1)}" if signal else f"exit {proc.returncode}"}
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    busy = load > BUSY_PER_CORE * (os.cpu_count() or 1)
    cpu = float(user) + float(system)
    return {"wall": wall, "cpu": cpu, "peak": int(kib) * 1024 / GIB, "load": load, "busy": busy, **result, **failed}


def segment_command(command: str, config: Path) -> dict:
    """`segment COMMAND --config CONFIG --quiet` timed, with its finished stages' seconds (`SEGMENT_STAGE_TIMES`).

    A failed run is kept (with `failed`) rather than stopping the benchmark: where a big run dies is a result.
    """
    segment = str(Path(sys.executable).parent / "segment")
    with tempfile.NamedTemporaryFile("r", suffix=".stages.jsonl") as stages:
        cmd = [segment, command, "--config", str(config), "--quiet"]
        run = timed(cmd, env={"SEGMENT_STAGE_TIMES": stages.name}, may_fail=True)
        run["stages"] = [json.loads(line) for line in stages.read().splitlines() if line.strip()]
    return run
