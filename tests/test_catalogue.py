"""The feature query is generated from the catalogue; optional input columns add or remove features."""

from datetime import date

from segment.features.catalogue import CATALOGUE, DOC, available, left_out, markdown
from segment.features.customer import customer_features
from segment.schema import KEYS
from tests.conftest import canonical_lines, engine_with_lines

ROWS = [
    ("A", "2021-01-01 10:00", "1", "P1", 2, 5.0),
    ("A", "2021-02-01 10:00", "2", "P2", 1, 10.0),
    ("B", "2021-01-15 10:00", "3", "P1", 1, 8.0),
]


def _columns(lines) -> list[str]:
    feats = customer_features(engine_with_lines(lines), [date(2021, 3, 1)], horizon_days=90)
    return [c for c in feats.columns if c not in KEYS]


def test_every_catalogue_expression_runs_with_every_column_mapped():
    lines = canonical_lines(ROWS).assign(category=["mugs", "cards", "mugs"], discount=[1.0, 0.0, 0.5])
    assert _columns(lines) == [f.name for f in CATALOGUE if f.table == "features"]


def test_features_needing_unmapped_columns_are_left_out():
    lines = canonical_lines(ROWS)[["customer_id", "timestamp", "order_id", "amount"]]
    got = _columns(lines)
    needy = {f.name for f in CATALOGUE if f.needs}
    assert not needy & set(got)
    assert {"recency_days", "frequency", "monetary", "gap_mean_days", "return_rate"} <= set(got)
    mapped = set(lines.columns)
    assert [f.name for f in available(mapped)] == got
    assert {f.name for f in left_out(mapped)} == needy - {"r_score", "f_score", "m_score"}


def test_the_generated_page_is_current():
    """docs/features.md is generated: run `python -m segment.features.catalogue` after changing the catalogue."""
    assert DOC.read_text() == markdown()
