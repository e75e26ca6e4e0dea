"""The replenishment step alone at 100M lines on the store (is it the 'score customers' failure?)."""

import json
import resource
import sys
import threading
import time
from pathlib import Path

from segment.features.replenishment import replenishment
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for

cfg = load_config(Path(sys.argv[1]))
data = prepare_for(cfg)
spill = data.engine.con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
peak = [0]


def watch():
    while True:
        try:
            peak[0] = max(peak[0], sum(f.stat().st_size for f in Path(spill).rglob("*") if f.is_file()))
        except Exception:
            pass
        time.sleep(2)


threading.Thread(target=watch, daemon=True).start()
t = time.perf_counter()
try:
    per_product, due = replenishment(data.engine.con, data.last, 20, 30)
    print(
        json.dumps({"products": len(per_product), "due": len(due), "s": round(time.perf_counter() - t, 1)}), flush=True
    )
except Exception as e:
    print(json.dumps({"error": str(e)[:300], "s": round(time.perf_counter() - t, 1)}), flush=True)
print(
    json.dumps(
        {
            "spill_peak_gib": round(peak[0] / 2**30, 2),
            "rss_peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        }
    ),
    flush=True,
)
