"""Where users wait: `segment train` and `segment score` as users run them, by stage, and peer rows.

Each command runs as its own process under `/usr/bin/time` (wall, user + system CPU, peak resident
memory of the whole process) on each data set (1M, 10M, 100M generated lines, Online Retail II; pick
with `BENCH_PERF_SIZES`, repeats with `BENCH_PERF_REPEATS`, see bench/perf_runs.py), each data set with
its own throwaway MLflow store and output folder. Repeats are interleaved (every data set once, then
again); the summary gives the median with the min-max. The one-minute load average is recorded before
every run; a run started above 1.5 per core is flagged, because on a shared machine such a run
measures the neighbours as much as the code. The stage breakdown is the seconds of each pipeline stage
(`SEGMENT_STAGE_TIMES`, pipeline/progress.py); "outside stages" is start-up, imports and config.

Peer rows (bench/perf_peers.py), at 1M and 10M generated lines: the RFM four numbers, pandas +
`rfm_summary` against one DuckDB query, without cleaning and with the same exact-duplicate removal; and
the full customer feature table at one cutoff from the same prepared lines and orders,
`customer_features` against a pandas implementation of the same features (bench/pandas_features.py).
Each pair is checked equal (rtol 1e-9) before its time is kept. `work` is the measured work alone
(reading the input included, imports excluded); the process columns include start-up.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.common import header, table, write
from bench.perf_peers import compact, peer_round, prepared
from bench.perf_runs import LABELS, page, repeats, segment_command, selected, source, write_config

PEER_SETS = ("1m", "10m")
TARGETS = (  # (what, data key, command, seconds)
    ("`segment train` at 10M lines under 5 minutes", "10m", "train", 300),
    ("`segment train` at 100M lines under 15 minutes", "100m", "train", 900),
    ("`segment train` on Online Retail II under 60 s", "retail", "train", 60),
)


def _mm(values: list[float], fmt: str = ".1f") -> str:
    if len(values) == 1:
        return f"{values[0]:{fmt}}"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _load(runs: list[dict]) -> str:
    return ", ".join(f"{r['load']:.1f}" + ("*" if r["busy"] else "") for r in runs)


def _ok(runs: list[dict]) -> list[dict]:
    return [r for r in runs if not r.get("failed")]


def failed_lines(runs: list[dict]) -> list[str]:
    """Each failed run: how it ended, when, at what peak, and the last stage it finished."""
    out = []
    for r in runs:
        if r.get("failed"):
            done = r["stages"][-1]["stage"] if r["stages"] else "none"
            out.append(
                f"- {LABELS[r['key']]} `segment {r['command']}` #{r['repeat']}: {r['failed']} after {r['wall']:.0f} s "
                f"({r['cpu']:.0f} s CPU), peak {r['peak']:.2f} GiB, load1 at start {r['load']:.1f}; "
                f"last finished stage: {done} (the next stage was running)."
            )
    return out


def command_rows(runs: list[dict]) -> pd.DataFrame:
    """One row per (data set, command): medians and ranges over its finished repeats."""
    rows = []
    for (key, command), g in pd.DataFrame(_ok(runs)).groupby(["key", "command"], sort=False):
        r = g.to_dict("records")
        rows.append(
            {
                "data": LABELS[key],
                "command": f"segment {command}",
                "runs": len(r),
                "wall s": _mm([x["wall"] for x in r]),
                "CPU s": _mm([x["cpu"] for x in r]),
                "peak GiB": _mm([x["peak"] for x in r], ".2f"),
                "load1 at start (* above 1.5/core)": _load(r),
            }
        )
    return pd.DataFrame(rows)


def stage_rows(runs: list[dict]) -> pd.DataFrame:
    """Seconds per stage per (data set, command), median (min-max) over finished repeats, in the order they ran."""
    rows = []
    for (key, command), g in pd.DataFrame(_ok(runs)).groupby(["key", "command"], sort=False):
        r = g.to_dict("records")
        names = list(dict.fromkeys(s["stage"] for x in r for s in x["stages"]))
        wall = statistics.median(x["wall"] for x in r)
        per_run = [{s["stage"]: s["seconds"] for s in x["stages"]} for x in r]
        outside = [x["wall"] - sum(s["seconds"] for s in x["stages"]) for x in r]
        for name, values in [*((n, [p.get(n, 0.0) for p in per_run]) for n in names), ("outside stages", outside)]:
            share = statistics.median(values) / wall if wall else float("nan")
            rows.append(
                {
                    "data": LABELS[key],
                    "command": command,
                    "stage": name,
                    "s": _mm(values),
                    "share of wall": f"{share:.0%}",
                }
            )
    return pd.DataFrame(rows)


def peer_rows(peers: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """One row per (data set, pair, side), and a ratio line per (data set, pair)."""
    rows, notes = [], []
    for (key, pair), g in pd.DataFrame(peers).groupby(["key", "pair"], sort=False):
        r = g.to_dict("records")
        for side, label in (("ours", "ours (DuckDB)"), ("peer", "pandas")):
            s = [x[side] for x in r]
            rows.append(
                {
                    "data": LABELS[key],
                    "pair": pair,
                    "side": label,
                    "work s": _mm([x["work"] for x in s], ".2f"),
                    "process wall s": _mm([x["wall"] for x in s]),
                    "process CPU s": _mm([x["cpu"] for x in s]),
                    "peak GiB": _mm([x["peak"] for x in s], ".2f"),
                    "load1 (*)": _load(s),
                }
            )

        def ratio(k: str, rs: list[dict] = r) -> float:
            return statistics.median(x["peer"][k] / x["ours"][k] for x in rs)

        notes.append(
            f"- {LABELS[key]}, {pair}: {r[0]['customers']:,} customers"
            + (f" x {int(r[0]['columns'])} features" if pd.notna(r[0].get("columns")) else "")
            + f", equal; pandas / ours, median of {len(r)}: work {ratio('work'):.1f}x, "
            f"process CPU {ratio('cpu'):.1f}x, process wall {ratio('wall'):.1f}x."
        )
    return pd.DataFrame(rows), notes


def target_lines(runs: list[dict], peers: list[dict]) -> list[str]:
    """Each issue target against what this run measured (or that it did not measure it)."""
    out = []
    for what, key, command, limit in TARGETS:
        r = [x for x in _ok(runs) if x["key"] == key and x["command"] == command]
        dead = [x for x in runs if x["key"] == key and x["command"] == command and x.get("failed")]
        if dead and not r:
            x = dead[0]
            out.append(f"- {what}: not met, the run did not finish ({x['failed']} after {x['wall']:.0f} s).")
            continue
        if not r:
            out.append(f"- {what}: not measured in this run.")
            continue
        wall = statistics.median(x["wall"] for x in r)
        busy = sum(x["busy"] for x in r)
        verdict = "met" if wall < limit else "not met"
        flagged = f" ({busy} of {len(r)} runs above 1.5/core)" if busy else ""
        out.append(f"- {what}: {wall:.0f} s, {verdict}{flagged}.")
    if runs:
        worst = max(runs, key=lambda x: x["peak"])
        verdict = "met" if worst["peak"] < 8 else "not met"
        out.append(f"- Peak memory under 8 GiB: highest {worst['peak']:.2f} GiB ({LABELS[worst['key']]}, "
                   f"segment {worst['command']}), {verdict}.")  # fmt: skip
    for pair in ("RFM, no cleaning", "RFM, exact duplicates removed"):
        r = [x for x in peers if x["key"] == "10m" and x["pair"] == pair]
        if r:
            work = statistics.median(x["peer"]["work"] / x["ours"]["work"] for x in r)
            cpu = statistics.median(x["peer"]["cpu"] / x["ours"]["cpu"] for x in r)
            verdict = "met" if min(work, cpu) >= 8 else ("met on one measure" if max(work, cpu) >= 8 else "not met")
            out.append(f"- RFM at 10M lines at least 8x `rfm_summary` ({pair}): work {work:.1f}x, "
                       f"process CPU {cpu:.1f}x, {verdict}.")  # fmt: skip
    return out


def render(runs: list[dict], peers: list[dict], setting: str = "") -> str:
    """The whole results page from the runs so far; `setting` says which sets, repeats and nice level."""
    text = header("Train and score as users run them (issue 20)", "performance") + __doc__.split("\n\n", 1)[1]
    text += f"\n{setting}\n" if setting else ""
    if _ok(runs):
        text += "\n## `segment train` and `segment score`\n\n" + table(command_rows(runs))
        text += "\n## Stage breakdown\n\n" + table(stage_rows(runs))
    if failed_lines(runs):
        text += "\n## Runs that did not finish\n\n" + "\n".join(failed_lines(runs)) + "\n"
    if peers:
        rows, notes = peer_rows(peers)
        text += "\n## Peer rows, like for like\n\n" + table(rows) + "\n" + "\n".join(notes) + "\n"
    text += "\n## Against the issue's targets\n\n" + "\n".join(target_lines(runs, peers)) + "\n"
    every = "; ".join(
        f"{LABELS[r['key']]} {r['command']} #{r['repeat']}: {r['wall']:.0f} s at load {r['load']:.1f}"
        + (f" ({r['failed']})" if r.get("failed") else "")
        for r in runs
    )
    return text + (f"\nEvery run: {every}.\n" if runs else "")


def run(results_dir: Path) -> Path:
    """Time train and score (and the peer pairs) on each data set, interleaved; write performance.md."""
    keys = selected()
    counts = repeats(keys)
    setting = (
        f"This page: `BENCH_PERF_PAGE={page()}` `BENCH_PERF_SIZES={','.join(keys)}` `BENCH_PERF_REPEATS="
        + ",".join(f"{k}={n}" for k, n in counts.items())
        + f"`, run at nice {os.nice(0)}; pages are rewritten after every run, so a stopped run keeps what it did."
    )
    runs: list[dict] = []
    peers: list[dict] = []
    preps: dict[str, dict] = {}

    def log(entry: dict, show: Callable[[dict], str] = json.dumps) -> None:
        print(show(entry), file=sys.stderr, flush=True)
        write(results_dir, page(), render(runs, peers, setting))

    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        configs = {k: write_config(Path(tmp) / k, k) for k in keys}
        rounds = max(counts.values(), default=0)
        for rep in range(rounds):
            # a set of n repeats runs in the last n rounds: the long single runs (10M, 100M) come last, and a
            # benchmark stopped during them has already written every finished run (the page follows each one)
            for key in (k for k in keys if counts[k] >= rounds - rep):
                repeat = rep + 1 - (rounds - counts[key])
                if key in PEER_SETS:  # before train: a train that the machine kills must not cost the peer rows
                    folder = Path(tmp) / f"peers_{key}"
                    if key not in preps:  # once per data set, not timed: the feature pair's common input
                        preps[key] = prepared(configs[key], folder / "prepared")
                    for p in peer_round(source(key), folder, preps[key]):
                        peers.append({"key": key, **p, "repeat": repeat})
                        log(peers[-1], compact)
                for command in ("train", "score"):
                    if command == "score" and runs[-1].get("failed"):
                        continue  # no champion to score with
                    result = segment_command(command, configs[key])
                    runs.append({"key": key, "command": command, "repeat": repeat} | result)
                    log({k: v for k, v in runs[-1].items() if k != "stages"})
    return write(results_dir, page(), render(runs, peers, setting))
