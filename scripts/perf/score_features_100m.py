"""One-cutoff customer features at 100M lines on the store: time, peak, spill size (issue 20 score failure)."""

import json
import resource
import sys
import threading
import time
from pathlib import Path

from segment.features.customer import customer_features
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for

cfg = load_config(Path(sys.argv[1]))
t = time.perf_counter()
data = prepare_for(cfg)
print(json.dumps({"prepare_s": round(time.perf_counter() - t, 1)}), flush=True)
spill = data.engine.con.execute("SELECT current_setting('temp_directory'), current_setting('memory_limit')").fetchall()[
    0
]
print(json.dumps({"spill": spill}), flush=True)
peak = [0]


def watch():
    while True:
        try:
            size = sum(f.stat().st_size for f in Path(spill[0]).rglob("*") if f.is_file())
        except Exception:
            size = 0
        peak[0] = max(peak[0], size)
        time.sleep(2)


threading.Thread(target=watch, daemon=True).start()
t = time.perf_counter()
try:
    f = customer_features(data.engine, [data.last], horizon_days=90)
    print(json.dumps({"rows": len(f), "features_s": round(time.perf_counter() - t, 1)}), flush=True)
except Exception as e:
    print(json.dumps({"error": str(e)[:500], "features_s": round(time.perf_counter() - t, 1)}), flush=True)
print(
    json.dumps(
        {
            "spill_peak_gib": round(peak[0] / 2**30, 2),
            "rss_peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        }
    ),
    flush=True,
)
