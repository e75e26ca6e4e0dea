"""Derive the bundled demo sample from the shared Online Retail II files (reproducible).

Keeps every line of one customer in five (chosen by a hash of the id, so the choice is stable)
and one guest line in fifty, from both yearly files, so the sample keeps the data's quirks:
the nine-day overlap between the files, cancellations, duplicates, guest checkouts.

    python scripts/make_sample.py ../shared/data/online_retail_ii data/sample
"""

import sys
from pathlib import Path

import duckdb


def main(src: str, dst: str) -> None:
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for name in ("year_2009_2010", "year_2010_2011"):
        con.execute(
            f"""COPY (
                SELECT * FROM read_parquet('{Path(src) / name}.parquet')
                WHERE ("Customer ID" IS NOT NULL AND hash("Customer ID") % 5 = 0)
                   OR ("Customer ID" IS NULL AND hash(Invoice, StockCode, InvoiceDate) % 50 = 0)
            ) TO '{out / name}.parquet' (FORMAT parquet, COMPRESSION zstd)"""
        )
        n, c = con.execute(
            f"SELECT count(*), count(DISTINCT \"Customer ID\") FROM read_parquet('{out / name}.parquet')"
        ).fetchone()
        print(f"{name}: {n} rows, {c} customers")


if __name__ == "__main__":
    main(*sys.argv[1:3])
