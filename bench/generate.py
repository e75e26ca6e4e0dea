"""Seeded synthetic order lines in the Online Retail II layout, written as Parquet in bounded memory.

Customers arrive uniformly over the period, buy at a gamma-distributed rate and lapse after an
exponential lifetime (the buy-till-you-die story), so recency, frequency and churn carry real signal.
Orders have Poisson-many lines over Zipf-popular products with fixed prices; a small share of lines are
returns (negative quantity on a `C` invoice). Customers are generated in chunks and each chunk is written
as row groups, so memory stays flat at any size.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = np.datetime64("2022-01-01T00:00:00", "s")
COLUMNS = {
    "customer_id": "Customer ID",
    "timestamp": "InvoiceDate",
    "order_id": "Invoice",
    "quantity": "Quantity",
    "unit_price": "Price",
    "product_id": "StockCode",
    "country": "Country",
}
COUNTRIES = np.array(["United Kingdom", "Germany", "France", "EIRE", "Netherlands", "Spain", "Belgium"])
COUNTRY_P = np.array([0.80, 0.06, 0.05, 0.03, 0.02, 0.02, 0.02])


@dataclass(frozen=True)
class Shape:
    """Parameters of the synthetic store; the defaults give about 40 lines per customer."""

    days: int = 730
    products: int = 5000
    mean_lines_per_order: float = 8.0
    rate_shape: float = 0.9  # gamma shape of orders per day
    rate_mean_days: float = 60.0  # mean days between orders
    mean_lifetime_days: float = 300.0
    return_share: float = 0.02


def _chunk(rng: np.random.Generator, first_id: int, n_customers: int, shape: Shape) -> pa.Table:
    """Order lines of `n_customers` consecutive customers."""
    birth = rng.uniform(0, shape.days, n_customers)
    lifetime = rng.exponential(shape.mean_lifetime_days, n_customers)
    active = np.minimum(birth + lifetime, shape.days) - birth
    rate = rng.gamma(shape.rate_shape, 1.0 / (shape.rate_shape * shape.rate_mean_days), n_customers)
    n_orders = 1 + rng.poisson(rate * active)
    cust = np.repeat(np.arange(n_customers), n_orders)
    first = np.r_[0, np.cumsum(n_orders)[:-1]]
    offset = rng.uniform(0, 1, cust.size) * active[cust]
    offset[first] = 0.0  # the first order opens the customer's life
    order_day = birth[cust] + offset
    order_no = np.arange(cust.size)
    n_lines = 1 + rng.poisson(shape.mean_lines_per_order - 1, cust.size)
    line_order = np.repeat(order_no, n_lines)
    product = np.minimum(rng.zipf(1.3, line_order.size), shape.products) - 1
    price_of = np.round(np.exp(rng.normal(1.0, 0.8, shape.products)), 2) + 0.05
    quantity = 1 + rng.poisson(3, line_order.size)
    is_return = rng.uniform(0, 1, line_order.size) < shape.return_share
    quantity = np.where(is_return, -quantity, quantity)
    seconds = (order_day[line_order] * 86400).astype("int64")
    timestamp = START + seconds.astype("timedelta64[s]")
    invoice_no = (first_id * 20 + line_order).astype(str)
    invoice = np.where(is_return, np.char.add("C", invoice_no), invoice_no)
    customer_ids = (first_id + cust[line_order]).astype(str)
    country_of = rng.choice(COUNTRIES, n_customers, p=COUNTRY_P)
    return pa.table(
        {
            "Invoice": invoice,
            "StockCode": np.char.add("P", product.astype(str)),
            "Quantity": quantity.astype("int64"),
            "InvoiceDate": pa.array(timestamp, pa.timestamp("s")),
            "Price": price_of[product],
            "Customer ID": customer_ids,
            "Country": country_of[cust[line_order]],
        }
    )


DATA = Path(os.environ.get("BENCH_DATA", Path(__file__).parent / "data"))


def lines_file(rows: int, seed: int = 0) -> Path:
    """The cached generated file of `rows` lines (in $BENCH_DATA, default bench/data), made on first use."""
    return generate(DATA / f"lines_{rows}_seed{seed}.parquet", rows, seed)


def generate(path: Path, rows: int, seed: int = 0, shape: Shape = Shape(), chunk_customers: int = 50_000) -> Path:
    """Write about `rows` order lines (exactly `rows`, the last chunk is cut) to `path`; reuse it if present.

    The file is written to a temporary name and renamed, so an interrupted run never leaves a partial file
    that a later run would mistake for a finished one.
    """
    path = Path(path)
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    rng = np.random.default_rng(seed)
    written, first_id = 0, 100_000
    writer = None
    try:
        while written < rows:
            table = _chunk(rng, first_id, chunk_customers, shape)
            table = table.slice(0, min(table.num_rows, rows - written))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=1_000_000)
            written += table.num_rows
            first_id += chunk_customers
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, path)
    return path


def main() -> None:
    """`python -m bench.generate ROWS PATH`: write one file (for trying the pipeline on big data)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(generate(args.path, args.rows, args.seed))


if __name__ == "__main__":
    main()
