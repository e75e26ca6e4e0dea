"""A/A calibration on Online Retail II: audiences at 2011-06-30, purchases to 2011-09-30, 1,000 campaigns each.

Usage: python scripts/actions/aa_calibration.py win_back_uk everyone
"""

import sys
import time
from datetime import date
from pathlib import Path

from segment.models import uplift
from segment.pipeline import audiences, campaign_report
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare

SOURCE = "/work/shared/data/online_retail_ii/*.parquet"
START, END, CAMPAIGNS, CONTROL = date(2011, 6, 30), date(2011, 9, 30), 1000, 0.5

cfg = load_config("configs/online_retail_ii.yaml", [f'data.source=["{SOURCE}"]'])
con = connect()
prepare(con, cfg.data)
when, table = audiences.read_segment_table(Path(cfg.output.root), START)
for name in sys.argv[1:]:
    members = audiences.select(con, table, cfg.audiences[name], when, name).members
    df = campaign_report.outcomes(con, members[["customer_id"]], START, END)
    buyer, revenue = (df["orders"] > 0).to_numpy(), df["revenue"].to_numpy()
    t0, rate, rev = time.time(), 0, 0
    for i in range(CAMPAIGNS):
        t = uplift.assign_arms(f"aa-{i}", df["customer_id"], CONTROL) == "test"
        e = uplift.diff_proportions(int(buyer[t].sum()), int(t.sum()), int(buyer[~t].sum()), int((~t).sum()))
        w = uplift.welch(revenue[t], revenue[~t])
        rate += e.ci_low <= 0 <= e.ci_high
        rev += w.ci_low <= 0 <= w.ci_high
    print(
        f"{name}: {len(df)} members, purchase rate {buyer.mean():.3f}; {CAMPAIGNS} A/A campaigns: 95% CI covers 0 "
        f"for purchase rate in {rate / CAMPAIGNS:.1%}, revenue per member in {rev / CAMPAIGNS:.1%} "
        f"({time.time() - t0:.1f}s)"
    )
