"""Inject one GBP 40 order on 2011-07-15 for a seeded 15% of the test arm of campaign gift_2011_07.

Writes /tmp/act_injected.parquet (Online Retail II layout) and prints the true effect on the test arm; then
run `segment campaign report --name gift_2011_07 --date 2011-09-30` with that file added to data.source.
"""

from datetime import date

import numpy as np
import pandas as pd

from segment.pipeline import campaign_report
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare

SOURCE = "/work/shared/data/online_retail_ii/*.parquet"
SHARE, VALUE, DAY = 0.15, 40.0, pd.Timestamp("2011-07-15 12:00")

cfg = load_config("configs/online_retail_ii.yaml", [f'data.source=["{SOURCE}"]'])
members = pd.read_parquet(f"{cfg.output.root}/campaigns/gift_2011_07/members.parquet")
test = members.loc[members["arm"] == "test", "customer_id"].to_numpy()
chosen = np.random.default_rng(0).choice(test, size=int(round(SHARE * len(test))), replace=False)
con = connect()
prepare(con, cfg.data)
out = campaign_report.outcomes(con, members, date(2011, 6, 30), date(2011, 9, 30))
already = set(out.loc[out["orders"] > 0, "customer_id"])
new_buyers = sum(c not in already for c in chosen)
print(
    f"test arm {len(test)}, injected {len(chosen)}, of whom {new_buyers} had not bought: true purchase-rate effect "
    f"{new_buyers / len(test):.4f}, revenue-per-member effect {VALUE * len(chosen) / len(test):.2f}"
)
pd.DataFrame(
    {
        "Invoice": [f"SIM{i:05d}" for i in range(len(chosen))],
        "StockCode": "22423",
        "Description": "simulated",
        "Quantity": 1,
        "InvoiceDate": DAY,
        "Price": VALUE,
        "Customer ID": chosen.astype("int64"),
        "Country": "United Kingdom",
    }
).to_parquet("/tmp/act_injected.parquet", index=False)
