"""What the incremental store costs and saves against cleaning in memory (docs/performance.md section 6).

`python scripts/perf/store_cost.py CONFIG WORK --history F [F ...] [--new F] [--repeats N]`

Every step is a fresh process timed for wall and CPU (all threads), with the load average before it:
`memory` cleans the files in memory as a run without the store does; `build` is the first store run on
the history (a fresh store: what the first run with the store costs); `serve` a run with nothing
changed; then, with `--new`, `memory` on history and new file, `append` (the store of the history takes
the new file) and `serve` again. CONFIG gives the columns and rules; sources and output root are
replaced. One JSON line per step on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def child(config: str, work: str, files: list[str], step: str) -> None:
    """One timed step in this process."""
    import resource

    from segment.pipeline.config_file import load_config
    from segment.pipeline.prepare import prepare_data
    from segment.pipeline.store import prepare_stored

    sources = json.dumps([str(Path(f).resolve()) for f in files])
    where = [f"output.root={work}/out", f"output.allowed_roots={json.dumps([work])}"]
    cfg = load_config(Path(config), [f"data.source={sources}", *where])
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    data = prepare_data(cfg.data) if step == "memory" else prepare_stored(cfg)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    row = {"step": step, "files": len(files), "rows_out": data.report.rows_out, "wall_s": round(wall, 2)}
    row |= {"cpu_s": round(cpu, 2), "peak_gib": round(peak, 2), "load1": round(load, 2)}
    print(json.dumps(row), flush=True)


def run(config: str, work: Path, files: list[str], step: str) -> None:
    """`step` in a fresh process; print its JSON line."""
    cmd = [sys.executable, __file__, config, str(work), "--child", step, "--history", *files]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    print(out[-1], flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("work", type=Path)
    ap.add_argument("--history", nargs="+", required=True)
    ap.add_argument("--new")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--once", action="store_true", help="skip `memory` on history + new (100M: ~the first)")
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        child(a.config, str(a.work), a.history, a.child)
        return
    everything = [*a.history, *([a.new] if a.new else [])]
    for _ in range(a.repeats):
        shutil.rmtree(a.work / "out", ignore_errors=True)
        run(a.config, a.work, a.history, "memory")
        run(a.config, a.work, a.history, "build")
        run(a.config, a.work, a.history, "serve")
        if a.new:  # the store now holds the history
            if not a.once:
                run(a.config, a.work, everything, "memory")
            run(a.config, a.work, everything, "append")
            run(a.config, a.work, everything, "serve")


if __name__ == "__main__":
    main()
