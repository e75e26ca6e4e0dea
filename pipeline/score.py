"""`segment score`: champion models score every customer as of a date; write the segment table and friends.

Steps: load -> features and rule segments at the date -> champion models (by registry alias) -> predict
through the signature -> drift against the training snapshot -> table and summary -> under a lock,
swap in the Parquet partitions, the database rows and the per-segment exports -> HTML summary and a
`score` MLflow run. Nothing is written before every check has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from segment.features.customer import customer_features
from segment.features.gaps import gap_quantiles
from segment.models.segments import rule_based_segments
from segment.pipeline import outputs, tracking
from segment.pipeline.clean import DataReport
from segment.pipeline.drift import psi
from segment.pipeline.engines import prepare_for
from segment.pipeline.prepare import data_span
from segment.pipeline.progress import info, stage
from segment.pipeline.reports import score_summary
from segment.pipeline.table import segment_summary, segment_table

from segment.config import Config
from segment.errors import InputError

MODELS = ("churn", "propensity", "segmenter")


@dataclass
class ScoreResult:
    """Where the outputs went and what they hold."""

    score_date: date
    rows: int
    parquet: Path
    database_url: str
    table: pd.DataFrame
    report: DataReport
    summary: Path
    not_scored: int = 0
    drift: dict[str, float] = field(default_factory=dict)
    exports: Path | None = None


def _model_input(model, features: pd.DataFrame, name: str) -> pd.DataFrame:
    """Exactly the columns the model's signature asks for, in order: nothing else reaches the model."""
    cols = model.metadata.get_input_schema().input_names()
    missing = [c for c in cols if c not in features]
    if missing:
        raise InputError(
            f"model {name!r} needs feature columns {missing} that the data cannot provide "
            f"(was it trained with other column mappings?)"
        )
    return features[cols]


def _probabilities(model, features: pd.DataFrame, name: str) -> np.ndarray:
    """P(class 1) through pyfunc, with a schema mismatch turned into a clear error (no data in it)."""
    try:
        out = np.asarray(model.predict(_model_input(model, features, name)))
    except MlflowException as e:
        first = str(e.message).strip().splitlines()[0][:300]
        raise InputError(f"model {name!r} rejected the input against its signature: {first}") from None
    if out.ndim != 2 or out.shape[1] != 2:
        raise InputError(f"model {name!r} returned shape {out.shape}, not class probabilities")
    return out[:, 1].astype(float)


def database_url(cfg: Config) -> str:
    """The configured URL, or a SQLite file next to the Parquet dataset."""
    return cfg.output.database_url or f"sqlite:///{Path(cfg.output.root) / 'segments.db'}"


def _drift(cfg: Config, ref: tracking.RegisteredModel, feats: pd.DataFrame) -> dict[str, float]:
    reference = tracking.load_run_json(ref.run_id, "drift_reference.json")
    if reference is None:
        info("[yellow]drift:[/yellow] the champion has no drift reference (trained before drift checks); skipped")
        return {}
    values = psi(reference, feats)
    moved = {f: v for f, v in values.items() if v > cfg.scoring.drift_warn_psi}
    for f, v in sorted(moved.items(), key=lambda kv: -kv[1]):
        info(f"[yellow]warning: drift[/yellow] {f}: PSI {v:.2f} > {cfg.scoring.drift_warn_psi}")
    limit = cfg.scoring.fail_on_drift
    if limit is not None and values and max(values.values()) > limit:
        worst = max(values, key=values.get)
        raise InputError(
            f"drift: feature {worst!r} has PSI {values[worst]:.2f} above scoring.fail_on_drift={limit}; "
            "nothing was written (retrain, or raise the limit)"
        )
    return values


def score(cfg: Config, score_date: date | None = None) -> ScoreResult:
    """Score every customer with a purchase on or before `score_date` (default: last date in the data)."""
    with stage("load and clean transactions"):
        con, report = prepare_for(cfg, attributes=bool(cfg.output.export_attributes))  # DuckDB, or Spark
    first, last = data_span(con)
    when = score_date or last
    if when < first:
        raise InputError(
            f"score date {when} is before the first order in the data ({first}): nobody to score",
            file=", ".join(Path(f.path).name for f in report.files),
            column=cfg.data.columns.timestamp,
        )
    with stage(f"features and segments at {when}"):
        feats = customer_features(con, [when], horizon_days=cfg.time.horizon_days)
        lc = cfg.segments.lifecycle
        gaps = gap_quantiles(
            con, when, loyal_orders=lc.loyal_orders, quantiles=(lc.active_quantile, lc.at_risk_quantile)
        )
        rules = rule_based_segments(feats, gaps, cfg.segments.rfm_rules, lc)
    uri = tracking.tracking_uri(cfg.tracking)
    exp = tracking.setup(cfg.tracking)
    with stage("load champion models"):
        refs = {m: tracking.champion(f"{cfg.tracking.model_prefix}{m}", uri) for m in MODELS}
        churn_model = tracking.load_pyfunc(refs["churn"])
        purchase_model = tracking.load_pyfunc(refs["propensity"])
        segmenter = tracking.load_sklearn(refs["segmenter"])
    with stage(f"score {len(feats):,} customers"):
        churn = _probabilities(churn_model, feats, "churn")
        purchase = _probabilities(purchase_model, feats, "propensity")
        drift = _drift(cfg, refs["propensity"], feats)
        ids = segmenter.predict(feats)
        versions = ",".join(f"{r.name}:{r.version}" for r in refs.values())
        run_ids = ",".join(sorted({r.run_id for r in refs.values()}))
        table = segment_table(
            feats,
            rules,
            ids,
            segmenter.name_of(ids),
            churn,
            purchase,
            score_date=when,
            model_versions=versions,
            run_id=run_ids,
            cfg=cfg.scoring,
        )
        summary_rows = segment_summary(table)
    not_scored = report.customers - len(table)  # customers with no purchase on or before the date
    attributes = None
    if cfg.output.export_attributes:
        names = ", ".join(f'"{a}"' for a in cfg.output.export_attributes)
        attributes = con.execute(f"SELECT customer_id, {names} FROM customer_attributes").df()
    root = Path(cfg.output.root)
    url = database_url(cfg)
    with stage("write outputs"), outputs.score_lock(root, when, cfg.scoring.lock_timeout_seconds):
        previous = outputs.previous_partition(root / "segment_table", when)
        path = outputs.write_partition(table, outputs.inside(root, "segment_table"), when)
        outputs.write_partition(summary_rows, outputs.inside(root, "segment_summary"), when)
        outputs.write_database(
            {cfg.output.table: table, cfg.output.summary_table: summary_rows}, url, when, cfg.output.db_schema
        )
        exports = outputs.write_exports(table, attributes, root, when) if cfg.output.exports else None
        html = score_summary(
            table,
            when,
            *(previous[::-1] if previous else (None, None)),
            drift=drift,
            drift_warn=cfg.scoring.drift_warn_psi,
            not_scored=not_scored,
        )
        summary = outputs.write_text(outputs.inside(root, "reports", f"score-{when}.html"), html)
    with tracking.run(exp, "score", tags={"score_date": str(when), "model_versions": versions}):
        tracking.log_metrics(
            {
                "customers": len(table),
                "not_scored": not_scored,
                "mean_churn_probability": float(churn.mean()),
                "mean_purchase_probability": float(purchase.mean()),
                "drift_features_over_warn": sum(v > cfg.scoring.drift_warn_psi for v in drift.values()),
            },
            prefix="score_",
        )
        tracking.log_metrics({f"psi_{k}": v for k, v in drift.items()}, prefix="drift_")
        tracking.log_json(report.to_dict(), "data_report.json")
        tracking.log_frame(summary_rows, "segment_summary.csv")
        tracking.log_text(html, "summary.html")
    return ScoreResult(when, len(table), path, url, table, report, summary, not_scored, drift, exports)
