"""Segments marketing can act on: one segment per scheme, stable cluster ids, unique names."""

import copy
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment.config import DEFAULT_RFM_RULES, LifecycleConfig
from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.features.rfm import rfm_scores
from segment.models.clusters import Segmenter
from segment.models.segments import ACTIVITY, STAGES, assign_lifecycle, assign_rfm_segments, lifecycle_thresholds
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare
from tests.conftest import REPO

FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "mean_order_value", "orders_365d", "return_rate")


@pytest.fixture(scope="module")
def sample_features() -> pd.DataFrame:
    """The bundled sample's customers at its last date (real data, ~1,000 customers)."""
    cfg = load_config(REPO / "configs" / "default.yaml")
    con = connect()
    prepare(con, cfg.data)
    return customer_features(DuckDBEngine(con), [date(2011, 12, 9)], horizon_days=90)


customers = st.lists(
    st.tuples(
        st.integers(0, 400),  # recency: few distinct values often, to force ties
        st.integers(1, 6),
        st.sampled_from([-20.0, 0.0, 5.0, 5.0, 80.0, 1000.0]),
        st.integers(0, 700),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(customers)
def test_every_customer_gets_exactly_one_rule_segment(rows):
    df = pd.DataFrame(rows, columns=["recency_days", "frequency", "monetary", "tenure_days"]).assign(cutoff=1)
    df["tenure_days"] = np.maximum(df["tenure_days"], df["recency_days"])
    scores = rfm_scores(df)
    names = assign_rfm_segments(scores, list(DEFAULT_RFM_RULES))
    assert len(names) == len(df) and names.notna().all()
    assert set(names) <= {r.name for r in DEFAULT_RFM_RULES}
    # shuffling the rows gives every customer the same segment
    perm = np.random.default_rng(0).permutation(len(df))
    again = assign_rfm_segments(rfm_scores(df.iloc[perm]), list(DEFAULT_RFM_RULES))
    assert (again.to_numpy() == names.to_numpy()[perm]).all()
    stages = assign_lifecycle(df, lifecycle_thresholds(pd.DataFrame(columns=["bucket"])), LifecycleConfig())
    grid = {f"{s}_{a}" for s in STAGES for a in ACTIVITY}
    assert stages.isin(grid).all() and len(stages) == len(df)


def test_lifecycle_thresholds_come_from_the_gaps():
    gaps = pd.DataFrame(
        {"bucket": ["one", "repeat"], "gaps": [10, 10], "active_days": [60, 30], "at_risk_days": [200, 90]}
    )
    th = lifecycle_thresholds(gaps)
    assert th["one"] == (60, 200) and th["repeat"] == (30, 90)
    assert th["loyal"] == (60, 200)  # no loyal gaps yet: borrows, never a made-up number
    df = pd.DataFrame({"frequency": [3, 3, 3], "tenure_days": [400] * 3, "recency_days": [20, 60, 120]})
    assert list(assign_lifecycle(df, th, LifecycleConfig())) == ["repeat_active", "repeat_at_risk", "repeat_lapsed"]


def _fit(frame: pd.DataFrame, **kw) -> Segmenter:
    params = {"features": FEATURES, "k_min": 3, "k_max": 6, "sample_size": 2000} | kw
    reference = params.pop("reference", None)
    return Segmenter(**params).fit(frame, reference=reference)


def test_clusters_cover_everyone_once_with_unique_names(sample_features):
    seg = _fit(sample_features)
    ids = seg.predict(sample_features)
    assert len(ids) == len(sample_features) and set(ids) <= set(seg.ids_)
    names = list(seg.names_.values())
    assert len(set(names)) == len(names) == seg.k_ and all(n.strip() for n in names)


def test_row_order_does_not_change_ids(sample_features):
    seg = _fit(sample_features)
    shuffled = sample_features.sample(frac=1.0, random_state=7)
    again = _fit(shuffled)
    assert (again.predict(sample_features) == seg.predict(sample_features)).all()
    assert again.names_ == seg.names_


def _relabelled(seg: Segmenter, perm: dict[int, int]) -> Segmenter:
    """The same model with its ids renamed, as a champion trained on other data could have them."""
    out = copy.deepcopy(seg)
    out.label_map_ = np.array([perm[i] for i in seg.label_map_])
    out.ids_ = np.array([perm[i] for i in seg.ids_])
    out.names_ = {perm[i]: n for i, n in seg.names_.items()}
    return out


def test_a_refit_with_another_seed_keeps_the_champions_ids(sample_features):
    first = _fit(sample_features, k_min=3, k_max=3, random_state=0)
    champion = _relabelled(first, {0: 2, 1: 0, 2: 1})  # ids a fresh fit would not choose
    refit = _fit(
        sample_features.sample(frac=1.0, random_state=3), k_min=3, k_max=3, random_state=11, reference=champion
    )
    assert refit.matched_ and refit.ids_moved_ == 3
    agree = np.mean(refit.predict(sample_features) == champion.predict(sample_features))
    assert agree > 0.95
    assert {i: refit.names_[i] for i in refit.ids_} == champion.names_


def test_an_extra_cluster_gets_a_fresh_id(sample_features):
    champion = _fit(sample_features, k_min=3, k_max=3)
    bigger = _fit(sample_features, k_min=4, k_max=4, reference=champion)
    assert sorted(bigger.ids_) == [0, 1, 2, 3]
    # the three inherited ids still hold mostly the same customers
    old, new = champion.predict(sample_features), bigger.predict(sample_features)
    kept = new != 3
    assert np.mean(old[kept] == new[kept]) > 0.8
