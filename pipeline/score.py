"""`segment score`: champion models score every customer as of a date; write the segment table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.customer import customer_features
from features.gaps import gap_quantiles
from models.segments import rule_based_segments
from pipeline import outputs, tracking
from pipeline.clean import DataReport
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.prepare import connect, data_span, prepare
from pipeline.progress import stage
from pipeline.reports import score_summary
from pipeline.table import segment_table

MODELS = ("churn", "propensity", "segmenter")


@dataclass
class ScoreResult:
    """Where the table went and what it holds."""

    score_date: date
    rows: int
    parquet: Path
    database_url: str
    table: pd.DataFrame
    report: DataReport
    summary: Path


def _model_input(model, features: pd.DataFrame, name: str) -> pd.DataFrame:
    """Select (in order) the columns the model's signature asks for; fail clearly if one is missing."""
    schema = model.metadata.get_input_schema()
    cols = schema.input_names()
    missing = [c for c in cols if c not in features]
    if missing:
        raise InputError(
            f"model {name!r} needs feature columns {missing} that the data cannot provide "
            f"(was it trained with other column mappings?)"
        )
    return features[cols]


def database_url(cfg: Config) -> str:
    """The configured URL, or a SQLite file next to the Parquet dataset."""
    return cfg.output.database_url or f"sqlite:///{Path(cfg.output.root) / 'segments.db'}"


def score(cfg: Config, score_date: date | None = None) -> ScoreResult:
    """Score every customer with a purchase on or before `score_date` (default: last date in the data)."""
    con = connect()
    with stage("load and clean transactions"):
        report = prepare(con, cfg.data)
    first, last = data_span(con)
    when = score_date or last
    if when < first:
        raise InputError(f"score date {when} is before the first order in the data ({first})")
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
    with stage(f"score {len(feats)} customers"):
        churn = np.asarray(churn_model.predict(_model_input(churn_model, feats, "churn")))[:, 1]
        purchase = np.asarray(purchase_model.predict(_model_input(purchase_model, feats, "propensity")))[:, 1]
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
    url = database_url(cfg)
    dataset = Path(cfg.output.root) / "segment_table"
    previous = outputs.previous_partition(dataset, when)
    with stage("write segment table"):
        path = outputs.write_partition(table, dataset, when)
        outputs.write_database(table, url, cfg.output.table, when)
    html = score_summary(table, when, *(previous[::-1] if previous else (None, None)))
    summary = outputs.write_text(Path(cfg.output.root) / "reports" / f"score-{when}.html", html)
    with tracking.run(exp, "score", tags={"score_date": str(when), "model_versions": versions}):
        tracking.log_metrics(
            {
                "customers": len(table),
                "mean_churn_probability": float(churn.mean()),
                "mean_purchase_probability": float(purchase.mean()),
            },
            prefix="score_",
        )
        tracking.log_json(report.to_dict(), "data_report.json")
        tracking.log_text(html, "summary.html")
    return ScoreResult(when, len(table), path, url, table, report, summary)
