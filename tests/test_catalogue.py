"""The feature catalogue matches the feature query exactly, and optional columns add or remove features."""

from datetime import date

import pandas as pd
from segment.features.catalogue import CATALOGUE, DOC, markdown
from segment.features.customer import KEYS, customer_features
from segment.pipeline.prepare import connect, prepare

from tests.conftest import RETAIL_COLUMNS, lines_frame

ROWS = [
    ("A", "2021-01-01 10:00", "1", "P1", 2, 5.0),
    ("A", "2021-02-01 10:00", "2", "P2", 1, 10.0),
    ("B", "2021-01-15 10:00", "3", "P1", 1, 8.0),
]


def _columns(tiny_config, frame: pd.DataFrame, columns: dict) -> list[str]:
    cfg = tiny_config({"l.parquet": frame}, columns=columns)
    con = connect()
    prepare(con, cfg.data)
    return [c for c in customer_features(con, [date(2021, 3, 1)], horizon_days=90).columns if c not in KEYS]


def test_catalogue_lists_exactly_what_the_query_produces_with_every_column_mapped(tiny_config):
    frame = lines_frame(ROWS).assign(Category=["mugs", "cards", "mugs"], Discount=[1.0, 0.0, 0.5])
    columns = RETAIL_COLUMNS | {"category": "Category", "discount": "Discount"}
    got = _columns(tiny_config, frame, columns)
    assert got == [f.name for f in CATALOGUE if f.table == "features"]


def test_features_needing_unmapped_columns_are_left_out_with_a_log_note(tiny_config, caplog):
    frame = lines_frame(ROWS).assign(Amount=lambda d: d["Quantity"] * d["Price"])
    minimal = {"customer_id": "Customer ID", "timestamp": "InvoiceDate", "amount": "Amount"}
    with caplog.at_level("INFO", logger="segment.features.catalogue"):
        got = _columns(tiny_config, frame, minimal)
    needy = {f.name for f in CATALOGUE if f.needs}
    assert not needy & set(got)
    assert {"recency_days", "frequency", "monetary", "gap_mean_days", "return_rate"} <= set(got)
    assert "feature items_per_order left out: column quantity is not mapped" in caplog.text


def test_the_generated_page_is_current():
    """docs/features.md is generated: run `python -m segment.features.catalogue` after changing the catalogue."""
    assert DOC.read_text() == markdown()
