"""The training-row cap chosen before the feature query keeps exactly the customers `sample_customers` keeps."""

from datetime import timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from segment.config import SegmentsConfig, TimeConfig
from segment.features.at_cutoffs import features_at
from segment.features.engine import DuckDBEngine
from segment.features.snapshots import SnapshotPlan
from segment.models.capped import rows_per_customer, training_sample
from segment.models.card import model_card
from segment.models.sampling import sample_customers
from segment.pipeline.prepare import connect, data_span, prepare
from segment.pipeline.snapshot import build_snapshots
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_engine(tmp_path_factory):
    """The bundled sample prepared once, with 20 training cutoffs and the frame `customer_features` gives."""
    from segment.pipeline.config_file import load_config
    from tests.conftest import RETAIL_COLUMNS, write_config

    folder = tmp_path_factory.mktemp("capped")
    sample = pd.concat([pd.read_parquet(p) for p in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    sample.to_parquet(folder / "sample.parquet", index=False)
    cfg = load_config(write_config(folder, {"source": [str(folder / "sample.parquet")], "columns": RETAIL_COLUMNS}))
    con = connect()
    prepare(con, cfg.data)
    _, last = data_span(con)
    train = sorted(last - timedelta(days=200 + 14 * i) for i in range(20))
    later = [last - timedelta(days=90), last]
    engine = DuckDBEngine(con)
    full = features_at(engine, [*train, *later], horizon_days=90)
    return engine, train, later, full


@pytest.mark.parametrize("cap, seed", [(1000, 0), (4000, 7), (9000, 3)])
def test_the_sql_sample_keeps_exactly_the_customers_sample_customers_keeps(sample_engine, cap, seed):
    engine, train, _, full = sample_engine
    train_rows = full[full["cutoff"].isin(train)]
    assert len(train_rows) > cap  # the cap cuts
    expected = sample_customers(train_rows, cap, seed)
    got = training_sample(engine, train, cap, seed)
    assert set(got.customers) == set(expected["customer_id"])
    assert (got.rows_sampled, got.rows_available, got.seed) == (len(expected), len(train_rows), seed)
    assert got.customers_available == train_rows["customer_id"].nunique()
    assert rows_per_customer(engine, train).to_dict() == train_rows["customer_id"].value_counts().to_dict()


def test_no_sample_when_every_row_fits_or_there_is_no_cap(sample_engine):
    engine, train, _, full = sample_engine
    rows = int(full["cutoff"].isin(train).sum())
    assert training_sample(engine, train, None, 0) is None
    assert training_sample(engine, train, rows, 0) is None
    assert training_sample(engine, train, rows - 1, 0) is not None


@pytest.mark.parametrize("n_sampled", [20, 2])  # running sums; the per-cutoff query on copies of the rows
def test_features_of_a_sample_are_the_full_frame_cut_and_other_cutoffs_stay_whole(sample_engine, n_sampled):
    engine, train, later, full = sample_engine
    train = train[-n_sampled:]
    full = full[full["cutoff"].isin([*train, *later])].reset_index(drop=True)
    sample = training_sample(engine, train, 2000 if n_sampled > 2 else 500, seed=1)
    got = features_at(engine, [*train, *later], horizon_days=90, customers=sample.customers, sampled=train)
    keep = ~full["cutoff"].isin(train) | full["customer_id"].isin(sample.customers)
    assert 0 < len(got) < len(full)
    pd.testing.assert_frame_equal(got, full[keep].reset_index(drop=True))
    assert len(got[got["cutoff"].isin(train)]) == sample.rows_sampled


def test_build_snapshots_with_a_sample_labels_the_cut_rows_like_the_whole(sample_engine):
    engine, train, later, _ = sample_engine
    cfg = SimpleNamespace(time=TimeConfig(), segments=SegmentsConfig())
    cutoffs = [*train, *later]
    whole = build_snapshots(engine, cutoffs, labelled=cutoffs[:-1], time=cfg.time, segments=cfg.segments)
    sample = training_sample(engine, train, 3000, seed=0)
    cut = build_snapshots(
        engine, cutoffs, labelled=cutoffs[:-1], time=cfg.time, segments=cfg.segments, sample=sample, sampled=train
    )
    keep = ~whole.labelled["cutoff"].isin(train) | whole.labelled["customer_id"].isin(sample.customers)
    pd.testing.assert_frame_equal(cut.labelled, whole.labelled[keep].reset_index(drop=True))


def test_the_validation_cap_keeps_sample_customers_customers_and_labels_them_like_the_whole(sample_engine):
    """`models.max_validation_rows`: the validation cutoff keeps exactly the customers `sample_customers`
    keeps of its rows (same seed), labelled as in the whole frame; training and the last cutoff are untouched;
    the training sample's customers are among them; the frame path (`bounded`) picks the same."""
    from segment.config import ModelsConfig
    from segment.pipeline.train import bounded

    engine, train, later, _ = sample_engine
    cfg = SimpleNamespace(time=TimeConfig(), segments=SegmentsConfig())
    cutoffs, validation = [*train, *later], later[:1]
    whole = build_snapshots(engine, cutoffs, labelled=cutoffs[:-1], time=cfg.time, segments=cfg.segments)
    at_val = whole.labelled[whole.labelled["cutoff"].isin(validation)]
    cap = len(at_val) // 2
    training = training_sample(engine, train, 3000, seed=0)
    held = training_sample(engine, validation, cap, seed=0, kind="validation")
    assert held is not None and held.kind == "validation" and held.cutoffs == tuple(validation)
    assert set(held.customers) == set(sample_customers(at_val, cap, 0)["customer_id"].astype(str))
    assert set(training.customers) <= set(held.customers)  # one hash orders both caps
    cut = build_snapshots(
        engine, cutoffs, labelled=cutoffs[:-1], segmented=[validation[0]], time=cfg.time, segments=cfg.segments,
        sample=training, sampled=train, validation_sample=held,
    )  # fmt: skip
    keep = (~whole.labelled["cutoff"].isin(train) | whole.labelled["customer_id"].isin(training.customers)) & (
        ~whole.labelled["cutoff"].isin(validation) | whole.labelled["customer_id"].isin(held.customers)
    )
    pd.testing.assert_frame_equal(cut.labelled, whole.labelled[keep].reset_index(drop=True))
    assert (cut.features["cutoff"] == later[-1]).sum() == (whole.features["cutoff"] == later[-1]).sum()
    assert len(cut.segmented[validation[0]].features) == held.rows_sampled <= cap
    plan = SnapshotPlan(train=tuple(train), validation=tuple(validation), horizon_days=90)
    caps = ModelsConfig().model_copy(update={"max_training_rows": 10**9, "max_validation_rows": cap})  # < 1000 here
    framed = bounded(whole.labelled, plan, caps)
    assert set(framed.loc[framed["cutoff"].isin(validation), "customer_id"].astype(str)) == set(held.customers)


def test_the_model_card_says_when_training_was_capped(sample_engine):
    engine, train, _, _ = sample_engine
    sample = training_sample(engine, train, 1000, seed=5)
    plan = SnapshotPlan(train=tuple(train), validation=(train[-1] + timedelta(days=120),), horizon_days=90)
    metrics = {"roc_auc": 0.8, "pr_auc": 0.5, "brier": 0.1, "ece": 0.01, "lift_top_decile": 2.0}
    result = SimpleNamespace(
        rows={"train_rows": 800}, metrics={"model": metrics}, importance=None, calibration={}, notes={}
    )
    card = model_card("propensity", plan, result, 90, sample=sample)
    assert f"{sample.rows_sampled:,} of {sample.rows_available:,} training-cutoff rows" in card
    assert "seed 5" in card and "models.max_training_rows = 1,000" in card and "Validation rows not sampled" in card
    held = training_sample(engine, train[-1:], 100, seed=5, kind="validation")
    card = model_card("propensity", plan, result, 90, sample=sample, validation_sample=held)
    assert f"models.max_validation_rows = 100: {held.rows_sampled:,} of {held.rows_available:,}" in card
    assert "not sampled" not in card
    assert "capped" not in model_card("propensity", plan, result, 90)


def test_the_value_step_reads_only_the_cap_s_customers_at_the_cut_cutoffs(sample_engine):
    """Summaries and labels at cut cutoffs are the whole run's rows of the sampled customers; others stay whole."""
    from segment.features.btyd import purchase_day_summaries
    from segment.features.cutoff_tables import CutoffTables
    from segment.models.btyd import BTYD_FEATURES, value_snapshots

    engine, train, later, _ = sample_engine
    sample = training_sample(engine, train, 3000, seed=0)
    cutoffs = [*train, later[0]]
    known = features_at(engine, cutoffs, horizon_days=90, customers=sample.customers, sampled=train)
    cut = CutoffTables(engine.con, 90, known, customers=sample.customers, sampled=train)
    got = value_snapshots(engine.con, cutoffs, horizon_days=90, grid_end=90, feature_horizon=90, tables=cut)
    whole = value_snapshots(engine.con, cutoffs, horizon_days=90, grid_end=90, feature_horizon=90)
    keep = ~whole["cutoff"].isin(train) | whole["customer_id"].isin(sample.customers)
    assert 0 < keep.sum() < len(whole) and len(got) == keep.sum()
    labels_and_features = [c for c in whole.columns if c not in BTYD_FEATURES]  # BTYD is fitted on the sample
    pd.testing.assert_frame_equal(got[labels_and_features], whole.loc[keep, labels_and_features].reset_index(drop=True))
    summaries = cut.summaries(cutoffs)
    every = purchase_day_summaries(engine.con, cutoffs)
    in_sample = ~every["cutoff"].isin(train) | every["customer_id"].isin(sample.customers)
    assert len(summaries) == in_sample.sum() < len(every)
    at_validation = got["cutoff"] == later[0]  # the validation cutoff: every customer, BTYD fitted on all
    pd.testing.assert_frame_equal(
        got.loc[at_validation, list(BTYD_FEATURES)].reset_index(drop=True),
        whole.loc[whole["cutoff"] == later[0], list(BTYD_FEATURES)].reset_index(drop=True),
    )


def test_bounded_cuts_only_training_rows_and_copies_nothing_when_they_fit(sample_engine):
    """`train.bounded` (the cut of a built frame, for engines that cannot cut first): above the cap the
    training rows are `sample_customers`' and validation rows stay whole; within it the frame is returned as is."""
    from segment.config import ModelsConfig
    from segment.pipeline.train import bounded

    _, train, later, full = sample_engine
    plan = SnapshotPlan(train=train, validation=later[:1], horizon_days=90)
    labelled = full[full["cutoff"] != later[-1]].reset_index(drop=True)
    n_train = int(labelled["cutoff"].isin(train).sum())
    assert bounded(labelled, plan, ModelsConfig(max_training_rows=n_train)) is labelled
    assert bounded(labelled, plan, ModelsConfig(max_training_rows=None)) is labelled
    cut = bounded(labelled, plan, ModelsConfig(max_training_rows=n_train // 3))
    expected = sample_customers(labelled[labelled["cutoff"].isin(train)], n_train // 3, 0)
    pd.testing.assert_frame_equal(cut[cut["cutoff"].isin(train)], expected.reset_index(drop=True))
    assert (cut["cutoff"] == later[0]).sum() == (labelled["cutoff"] == later[0]).sum()
