"""The snapshot plan, its leakage guard, the tuning split and the one snapshot step, on known answers."""

from datetime import date, timedelta

import pandas as pd
import pytest

from segment.config import SegmentsConfig, TimeConfig
from segment.errors import InputError
from segment.features.snapshots import SnapshotPlan, plan_snapshots
from segment.models.splits import split_tuning
from segment.pipeline.snapshot import build_snapshots
from segment.schema import CUSTOMER_ID, CUTOFF, LABEL
from tests.conftest import canonical_lines, engine_with_lines


def test_plan_steps_back_from_the_last_labelled_date():
    cfg = TimeConfig(horizon_days=30, snapshot_step_days=7, train_snapshots=3, validation_snapshots=1)
    plan = plan_snapshots(date(2021, 1, 1), date(2021, 6, 30), cfg)
    assert plan.validation == (date(2021, 5, 31),)  # last date - H
    assert plan.train == (date(2021, 4, 17), date(2021, 4, 24), date(2021, 5, 1))  # validation - H, stepping back 7
    assert max(plan.train) + timedelta(days=30) <= min(plan.validation)


def test_plan_drops_cutoffs_without_history_and_refuses_too_short_data():
    cfg = TimeConfig(horizon_days=30, snapshot_step_days=7, train_snapshots=50)
    plan = plan_snapshots(date(2021, 1, 1), date(2021, 6, 30), cfg)
    assert min(plan.train) >= date(2021, 1, 29)  # 28 days of history at the earliest cutoff
    with pytest.raises(InputError, match="too short for a 30-day horizon"):
        plan_snapshots(date(2021, 1, 1), date(2021, 3, 1), cfg)


def test_a_plan_whose_training_labels_overlap_validation_is_refused():
    with pytest.raises(ValueError, match="leakage"):
        SnapshotPlan(train=(date(2021, 1, 10),), validation=(date(2021, 1, 31),), horizon_days=30)
    SnapshotPlan(train=(date(2021, 1, 1),), validation=(date(2021, 1, 31),), horizon_days=30)  # exactly H apart: ok


def test_tuning_customers_never_appear_in_the_fitting_rows():
    rows = pd.DataFrame(
        {CUSTOMER_ID: [f"c{i % 500}" for i in range(5000)], CUTOFF: [date(2021, 1, 1 + i % 20) for i in range(5000)]}
    )
    fit, tune = split_tuning(rows)
    assert set(fit[CUSTOMER_ID]).isdisjoint(tune[CUSTOMER_ID])  # by customer, across every cutoff
    assert len(fit) + len(tune) == len(rows)
    assert 0.1 < tune[CUSTOMER_ID].nunique() / 500 < 0.3  # about a fifth of the customers
    again, _ = split_tuning(rows.sample(frac=1.0, random_state=1))
    assert set(again[CUSTOMER_ID]) == set(fit[CUSTOMER_ID])  # the split does not depend on row order


def test_one_snapshot_step_gives_features_labels_and_rule_segments():
    rows = [
        ("A", "2021-01-05 10:00", "1", "P1", 1, 10.0),
        ("A", "2021-02-01 10:00", "2", "P1", 1, 10.0),
        ("B", "2021-01-20 10:00", "3", "P1", 2, 10.0),
        ("A", "2021-02-15 10:00", "4", "P1", 1, 10.0),  # after the first cutoff, in its label window
        ("C", "2021-02-20 10:00", "5", "P1", 1, 10.0),  # a newcomer after the first cutoff
    ]
    engine = engine_with_lines(canonical_lines(rows))
    t1, t2 = date(2021, 2, 1), date(2021, 3, 1)
    snaps = build_snapshots(
        engine, [t1, t2], labelled=[t1], segmented=[t1, t2], time=TimeConfig(horizon_days=30),
        segments=SegmentsConfig(),
    )  # fmt: skip
    assert sorted(snaps.features.groupby(CUTOFF)[CUSTOMER_ID].apply(list).to_dict().items()) == [
        (t1, ["A", "B"]),
        (t2, ["A", "B", "C"]),
    ]
    labels = snaps.labelled.set_index(CUSTOMER_ID)
    assert set(labels[CUTOFF]) == {t1}
    assert labels.loc["A", LABEL["propensity"]] == 1 and labels.loc["B", LABEL["propensity"]] == 0
    assert labels.loc["B", LABEL["churn"]] == 1
    for cutoff, snap in snaps.segmented.items():
        assert list(snap.with_segments()[CUSTOMER_ID]) == list(snap.features[CUSTOMER_ID])
        assert snap.segments["rfm_segment"].notna().all() and snap.segments["lifecycle_stage"].notna().all()
        assert snap.cutoff == cutoff
    assert LABEL["churn"] in snaps.segmented[t1].features  # the validation snapshot keeps its labels
