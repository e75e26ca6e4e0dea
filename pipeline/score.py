"""`segment score`: the champion models score every customer as of a date; the outputs are published whole.

`score` is the orchestrator: prepare -> the score date -> the champions (by registry alias) -> `score_customers`
(the compute half: features and rule segments at the date, probabilities through each model's signature,
drift, the segment table and its summary) -> `publish.publish` (every output, nothing written before every
check has passed) -> `record.record_score` (a `score` MLflow run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from segment.config import Config, ScoringConfig
from segment.errors import InputError, ModelRegistryError
from segment.pipeline import actions_outputs, checks, lineage, publication, record, tracking
from segment.pipeline import drift as drift_step
from segment.pipeline.clean import DataReport
from segment.pipeline.engines import prepare_for
from segment.pipeline.exports import customer_extras
from segment.pipeline.prepare import Prepared
from segment.pipeline.progress import info, stage, warn
from segment.pipeline.publish import Published, publish
from segment.pipeline.scoring_value import value_columns
from segment.pipeline.snapshot import build_snapshots
from segment.pipeline.table import segment_summary, segment_table
from segment.schema import MODELS, SEGMENTER, TARGETS, TIMING_MODEL, VALUE_MODEL, registered_name


@dataclass(frozen=True)
class Champions:
    """The champion models by name (pyfunc for the classifiers, the segmenter object) and their lineage."""

    models: dict[str, Any]
    refs: dict[str, lineage.RegisteredModel]
    drift_reference: dict | None
    # churn and purchase champions of one train run: churn is the purchase model's complement there
    # (models/training.py), so one booster prediction serves both
    churn_is_complement: bool = False

    @property
    def versions(self) -> str:  # noqa: D102
        return ",".join(f"{r.name}:{r.version}" for r in self.refs.values())

    @property
    def run_ids(self) -> str:  # noqa: D102
        return ",".join(sorted({r.run_id for r in self.refs.values()}))


@dataclass(frozen=True)
class Scored:
    """What scoring computed for one date, before anything is written."""

    score_date: date
    table: pd.DataFrame
    summary: pd.DataFrame
    drift: dict[str, float]
    report: DataReport
    not_scored: int
    model_versions: str
    attributes: pd.DataFrame | None = None
    actions: actions_outputs.ActionFrames | None = None  # audiences and the replenishment list
    extras: pd.DataFrame | None = None  # per-customer export columns not in the table (country)


@dataclass(frozen=True)
class ScoreResult:
    """What was scored and where it was published."""

    scored: Scored
    published: Published

    @property
    def score_date(self) -> date:  # noqa: D102
        return self.scored.score_date

    @property
    def table(self) -> pd.DataFrame:  # noqa: D102
        return self.scored.table

    @property
    def rows(self) -> int:  # noqa: D102
        return len(self.scored.table)


def score_date(data: Prepared, asked: date | None, cfg: Config, force: bool = False) -> date:
    """The date to score: the one asked for, else the last date in the data.

    Refused before the first order, and (unless `force`) far past the data or after a year without orders.
    """
    when = asked or data.last
    if when < data.first:
        raise InputError(
            f"score date {when} is before the first order in the data ({data.first}): nobody to score",
            file=", ".join(Path(f.path).name for f in data.report.files),
            column=cfg.data.columns.timestamp,
        )
    forced = checks.check_score_date(data.engine, when, data.last, cfg.time.horizon_days, force)
    if forced:
        warn(forced)
    return when


def load_champions(cfg: Config) -> Champions:
    """The `@champion` version of every model of the config, and the drift reference of their training run."""
    uri = tracking.tracking_uri(cfg.tracking)
    tracking.setup(cfg.tracking)
    refs = {m: tracking.champion(registered_name(cfg.tracking.model_prefix, m), uri) for m in MODELS}
    models = {t: tracking.load_pyfunc(refs[t]) for t in TARGETS}
    models[SEGMENTER] = tracking.load_sklearn(refs[SEGMENTER])
    for m, (ref, model) in optional_champions(cfg, uri).items():  # value and timing: absent in older stores
        refs[m], models[m] = ref, model
    complement = tracking.train_run_of(refs["churn"].run_id) == tracking.train_run_of(refs["propensity"].run_id)
    drift = tracking.load_run_json(refs["propensity"].run_id, "drift_reference.json")
    return Champions(models, refs, drift, churn_is_complement=complement)


def optional_champions(cfg: Config, uri: str) -> dict[str, tuple[lineage.RegisteredModel, Any]]:
    """The value and timing champions that exist and load safely; a store trained before them just lacks them."""
    found = {}
    for m in (VALUE_MODEL, TIMING_MODEL):
        try:
            ref = tracking.champion(registered_name(cfg.tracking.model_prefix, m), uri)
            found[m] = (ref, tracking.load_sklearn(ref))
        except ModelRegistryError as e:
            warn(f"no usable {m} champion ({e}); its segment-table columns stay empty: run `segment train` to add it")
    return found


def check_drift(reference: dict | None, features: pd.DataFrame, cfg: ScoringConfig) -> dict[str, float]:
    """PSI of every model feature against training; warns past `drift_warn_psi`, fails past `fail_on_drift`."""
    if reference is None:
        info("[yellow]drift:[/yellow] the champion has no drift reference (trained before drift checks); skipped")
        return {}
    values = drift_step.psi(reference, features)
    moved = drift_step.moved(reference, values, cfg.drift_warn_psi)  # past the normal season's movement too
    for f, v in sorted(moved.items(), key=lambda kv: -kv[1]):
        warn(f"drift {f}: PSI {v:.2f} > {cfg.drift_warn_psi}")
    if cfg.fail_on_drift is not None and moved and max(moved.values()) > cfg.fail_on_drift:
        worst = max(moved, key=moved.get)
        raise InputError(
            f"drift: feature {worst!r} has PSI {values[worst]:.2f} above scoring.fail_on_drift={cfg.fail_on_drift}; "
            "nothing was written (retrain, or raise the limit)"
        )
    return values


def class_probabilities(data: Prepared, champions: Champions, feats: pd.DataFrame, cfg: Config) -> list:
    """P(churn) and P(purchase) per customer: through each model's signature here, or on Spark's executors."""
    targets = ("churn", "propensity")
    if cfg.engine != "spark":
        purchase = tracking.predict_positive(champions.models["propensity"], feats, "propensity")
        if champions.churn_is_complement:  # the same numbers without a second booster pass (8 s at 100M lines)
            return [1.0 - purchase, purchase]
        return [tracking.predict_positive(champions.models["churn"], feats, "churn"), purchase]
    from segment.pipeline.spark_scoring import class_probabilities as on_spark

    folders = {t: tracking.verified_folder(champions.refs[t]) for t in targets}
    got = on_spark(data.engine.spark, folders, feats)
    return [got[t] for t in targets]


def score_customers(data: Prepared, when: date, cfg: Config, champions: Champions) -> Scored:
    """Features, rule segments, probabilities, clusters and drift at `when`: the segment table, nothing written."""
    lists = actions_outputs.refills(data.engine.con, cfg, when)  # first: its DuckDB peak meets no customer frame
    snap = build_snapshots(data.engine, [when], segmented=[when], time=cfg.time, segments=cfg.segments).segmented[when]
    feats, models = snap.features, champions.models
    churn, purchase = class_probabilities(data, champions, feats, cfg)
    drift = check_drift(champions.drift_reference, feats, cfg.scoring)
    ids = models[SEGMENTER].predict(feats)
    table = segment_table(
        feats, snap.segments, ids, models[SEGMENTER].name_of(ids), churn, purchase, score_date=when,
        model_versions=champions.versions, run_id=champions.run_ids, cfg=cfg.scoring,
        value=value_columns(data.engine, when, cfg, models.get(VALUE_MODEL), models.get(TIMING_MODEL), feats),
    )  # fmt: skip
    attributes = None
    if cfg.output.export_attributes:
        names = ", ".join(f'"{a}"' for a in cfg.output.export_attributes)
        attributes = data.engine.query(f"SELECT customer_id, {names} FROM customer_attributes")
    not_scored = data.report.customers - len(table)  # customers with no purchase on or before the date
    actions = actions_outputs.build(data.engine.con, table, cfg, when, attributes, lists)  # a bad filter fails here
    return Scored(
        when, table, segment_summary(table), drift, data.report, not_scored, champions.versions, attributes,
        actions=actions, extras=customer_extras(feats),
    )  # fmt: skip


def score(cfg: Config, asked: date | None = None, force: bool = False) -> ScoreResult:
    """Score every customer with a purchase on or before the date (default: the last date in the data)."""
    with stage("load and clean transactions"):
        data = prepare_for(cfg, attributes=bool(cfg.output.export_attributes))  # DuckDB, or Spark
    when = score_date(data, asked, cfg, force)
    with stage("load champion models"):
        champions = load_champions(cfg)
    with stage(f"score customers at {when}"):
        scored = score_customers(data, when, cfg, champions)
    with stage("write outputs"):
        published = publish(scored, cfg)
    with publication.best_effort("MLflow logging of the score run"):  # published: a failing store only warns
        record.record_score(scored, cfg, published.html)
    return ScoreResult(scored, published)
