"""One step of `segment score` alone on a prepared store: seconds, peak RSS and peak DuckDB spill.

Used at 100M generated lines to find which step of "score customers" ran out of memory
(docs/performance.md section 5): `python scripts/perf/score_step_cost.py CONFIG features|replenishment`.
"""

import json
import resource
import sys
import threading
import time
from pathlib import Path

from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.features.replenishment import replenishment
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for

STEPS = {
    "features": lambda engine, when: {"customers": len(customer_features(engine, [when], horizon_days=90))},
    "replenishment": lambda engine, when: dict(
        zip(("products", "due"), map(len, replenishment(engine.con, when, 20, 30)), strict=True)
    ),
}


def spill_size(folder: str) -> int:
    """Bytes in DuckDB's private temporary folder now."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def main() -> None:
    """Prepare the data (the store serves it), run one step, print JSON lines."""
    cfg, step = load_config(Path(sys.argv[1])), STEPS[sys.argv[2]]
    data = prepare_for(cfg)
    engine: DuckDBEngine = data.engine
    folder = engine.con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    peak = [0]

    def watch() -> None:
        while True:
            try:
                peak[0] = max(peak[0], spill_size(folder))
            except OSError:
                pass
            time.sleep(2)

    threading.Thread(target=watch, daemon=True).start()
    start = time.perf_counter()
    try:
        out = step(engine, data.last)
    except Exception as e:  # the point is to record how it fails
        out = {"error": str(e)[:300]}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out |= {"s": round(time.perf_counter() - start, 1), "spill_peak_gib": round(peak[0] / 2**30, 2)}
    print(json.dumps(out | {"rss_peak_gib": round(rss, 2)}), flush=True)


if __name__ == "__main__":
    main()
