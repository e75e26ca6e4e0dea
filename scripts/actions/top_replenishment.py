"""Products by repurchase interval on Online Retail II at 2011-12-09 (min_customers=10), and the due list."""

from datetime import date

import duckdb

from segment.features.replenishment import due_for_refill, repurchase_intervals
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare

SOURCE = "/work/shared/data/online_retail_ii/*.parquet"
WHEN = date(2011, 12, 9)

cfg = load_config("configs/online_retail_ii.yaml", [f'data.source=["{SOURCE}"]'])
con = connect()
prepare(con, cfg.data)
iv = repurchase_intervals(con, WHEN, 10)
names = duckdb.sql(f"SELECT StockCode AS product_id, mode(Description) AS description FROM '{SOURCE}' GROUP BY 1").df()
iv = iv.merge(names, on="product_id", how="left")
print(f"{len(iv)} products bought again by >= 10 customers")
print("most repeat customers:")
print(iv.sort_values("customers", ascending=False).head(8).to_string(index=False))
print("shortest median interval among products with >= 100 repeat customers:")
short = iv[iv["customers"] >= 100].sort_values(["median_days", "customers"], ascending=[True, False])
print(short.head(8).to_string(index=False))
due = due_for_refill(con, WHEN, 10, 14)
print(f"due in ({WHEN}, {WHEN} + 14 days]: {len(due)} (customer, product) pairs, {due.customer_id.nunique()} customers")
