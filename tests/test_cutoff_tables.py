"""Reusing the snapshot step's features and the BTYD fits in the value and timing step changes no number (issue 20).

On the bundled sample: the per-cutoff tables equal one query at every cutoff, and the value and timing
fits and the scored value columns are the same with and without the snapshot step's features.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segment.config import Config
from segment.features.at_cutoffs import features_at
from segment.features.btyd import purchase_day_summaries
from segment.features.customer import customer_features
from segment.features.cutoff_tables import CutoffTables
from segment.features.snapshots import plan_snapshots
from segment.models.bgnbd import fit as bgnbd_fit
from segment.models.btyd import value_snapshots
from segment.models.timing import fit_timing, timing_grid
from segment.models.value import fit_value
from segment.models.value_baselines import purchase_day_summary
from segment.pipeline.engines import prepare_for
from segment.pipeline.prepare import Prepared
from segment.pipeline.scoring_value import value_columns
from segment.pipeline.snapshot import build_snapshots
from segment.pipeline.valuing import ValueFits, fit_value_models
from segment.schema import CUTOFF, PURCHASE_DAYS
from tests.conftest import NON_PRODUCT, RETAIL_COLUMNS, SAMPLE

# 90 = time.horizon_days: the snapshot's plan; 118 = 90 + 2 steps of 14 days: its training cutoffs are
# mostly the snapshot's, its validation cutoff is not, so both paths (reused, computed) are exercised
HORIZONS = [90, 118]


def _config() -> Config:
    data = {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS, "non_product_codes": NON_PRODUCT}
    return Config.model_validate({"data": data, "time": {"train_snapshots": 5}, "value": {"horizon_days": HORIZONS}})


@pytest.fixture(scope="module")
def sample() -> tuple[Prepared, Config, pd.DataFrame]:
    """The sample prepared, and the snapshot step's features at the plan's cutoffs as `train.fit` builds them."""
    cfg = _config()
    data = prepare_for(cfg)
    plan = plan_snapshots(data.first, data.last, cfg.time)
    cutoffs = [*plan.train, *plan.validation, data.last]
    snaps = build_snapshots(data.engine, cutoffs, labelled=cutoffs[:-1], time=cfg.time, segments=cfg.segments)
    return data, cfg, snaps.features


def fit_without_reuse(data: Prepared, cfg: Config) -> ValueFits:
    """The value step as it was before any reuse: each horizon builds everything itself, baselines refit."""
    value, plans, timing, first = {}, {}, None, cfg.value.horizon_days[0]
    for h in cfg.value.horizon_days:
        plan = plan_snapshots(data.first, data.last, cfg.time.model_copy(update={"horizon_days": h}))
        grid, _ = timing_grid(cfg.value, h)
        snaps = value_snapshots(
            data.engine.con, [*plan.train, *plan.validation], horizon_days=h, grid_end=grid[-1],
            feature_horizon=cfg.time.horizon_days,
        )  # fmt: skip
        summary = purchase_day_summary(data.engine.con, plan.validation[-1])
        value[h], plans[h] = fit_value(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary), plan
        if h == first:
            timing = fit_timing(snaps, plan, cfg.value, cfg.models.lightgbm, summary=summary)
    return ValueFits(value, timing, plans)


@pytest.fixture(scope="module")
def fits(sample) -> tuple[ValueFits, ValueFits, list[date], int]:
    """The fits without and with reuse; the cutoffs whose features and the number of BG/NBD fits the latter made."""
    data, cfg, known = sample
    fresh = fit_without_reuse(data, cfg)
    built: list[date] = []
    bg_fits = []

    def recording(engine, cutoffs, **kw):
        built.extend(cutoffs)
        return features_at(engine, cutoffs, **kw)

    def counting(*args, **kw):
        bg_fits.append(1)
        return bgnbd_fit(*args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("segment.features.cutoff_tables.features_at", recording)
        mp.setattr("segment.models.bgnbd.fit", counting)
        reused = fit_value_models(data, cfg, known_features=known)
    return fresh, reused, built, len(bg_fits)


def test_held_and_computed_cutoffs_give_what_one_query_at_every_cutoff_gives(sample):
    data, cfg, known = sample
    con, h = data.engine.con, cfg.time.horizon_days
    held = sorted(set(known[CUTOFF]))
    new = [date(2010, 6, 30), date(2010, 8, 1)]  # not snapshot cutoffs
    asked = [*held[-3:], *new]
    tables = CutoffTables(con, h, known)
    got = tables.features(asked)
    pd.testing.assert_frame_equal(got, customer_features(data.engine, asked, horizon_days=h))
    assert PURCHASE_DAYS not in got and tables.computed == {"features": 2, "summaries": 0}
    tables.summaries(new)
    pd.testing.assert_frame_equal(tables.summaries(asked), purchase_day_summaries(con, asked))
    assert tables.computed["summaries"] == 5  # the two asked before are not built again
    one = tables.summary(new[0])
    pd.testing.assert_frame_equal(one, purchase_day_summaries(con, [new[0]]).drop(columns=CUTOFF))


def test_a_cutoff_without_customers_gives_an_empty_frame_with_the_columns(sample):
    data, cfg, known = sample
    tables = CutoffTables(data.engine.con, cfg.time.horizon_days, known)
    empty = tables.features([date(2000, 1, 1)])
    assert len(empty) == 0 and list(empty.columns) == [c for c in known.columns if c != PURCHASE_DAYS]


def test_tables_of_another_feature_horizon_are_refused(sample):
    from segment.models.btyd import value_features

    data, cfg, known = sample
    with pytest.raises(ValueError, match="horizon 60"):
        value_features(data.engine.con, [data.last], horizon_days=90, feature_horizon=60,
                       tables=CutoffTables(data.engine.con, 90, known))  # fmt: skip


def test_value_and_timing_fits_are_the_same_with_the_snapshot_features_reused(sample, fits):
    fresh, reused, built, bg_fits = fits
    known = set(sample[2][CUTOFF])
    value_cutoffs = {c for p in reused.plans.values() for c in (*p.train, *p.validation)}
    assert built and set(built) == value_cutoffs - known  # only the other horizon's own cutoffs were built
    assert bg_fits == len(value_cutoffs)  # one BG/NBD fit per cutoff: none again for a baseline or a horizon
    assert set(reused.plans[90].train) | set(reused.plans[90].validation) <= known
    assert sorted(fresh.value) == HORIZONS == sorted(reused.value)  # both horizons fitted, none skipped
    assert fresh.notes == reused.notes == {}
    for h in HORIZONS:
        a, b = fresh.value[h], reused.value[h]
        assert a.metrics == b.metrics and a.rows == b.rows and a.features == b.features
        pd.testing.assert_frame_equal(a.X_val, b.X_val)
        np.testing.assert_array_equal(a.customer_id, b.customer_id)
        for name in a.scores:
            np.testing.assert_array_equal(a.scores[name], b.scores[name])
    assert fresh.timing.metrics == reused.timing.metrics
    for name in fresh.timing.days:
        np.testing.assert_array_equal(fresh.timing.days[name], reused.timing.days[name])
    assert fresh.timing.metrics["model"]  # a real fit, not two empty results


def test_scored_value_columns_are_the_same_with_the_snapshot_features_reused(sample, fits):
    data, cfg, _ = sample
    value_model, timing_model = fits[0].value[90].model, fits[0].timing.model  # as registered
    when = date(2011, 11, 11)
    snap = build_snapshots(data.engine, [when], segmented=[when], time=cfg.time, segments=cfg.segments).segmented[when]
    fresh = value_columns(data.engine, when, cfg, value_model, timing_model)
    reused = value_columns(data.engine, when, cfg, value_model, timing_model, snap.features)
    pd.testing.assert_frame_equal(fresh, reused)
    assert fresh["expected_revenue"].notna().all() and fresh["expected_next_order_date"].notna().any()
