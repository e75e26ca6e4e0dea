"""Reliability (issue 16): a score run whose outputs are published is not failed by MLflow afterwards."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException

from segment.pipeline import tracking
from segment.pipeline.score import score
from tests.test_scoring import _config_beside, _db_rows


def test_a_write_locked_mlflow_store_after_publication_warns_and_the_run_succeeds(
    trained, tmp_path, monkeypatch, capsys
):
    cfg, _ = _config_beside(trained, tmp_path)

    def locked(*args, **kwargs):
        raise MlflowException("(sqlite3.OperationalError) database is locked [parameters: ('C17850', 0.93)]")

    monkeypatch.setattr(tracking, "log_metrics", locked)
    result = score(cfg, date(2011, 12, 9))
    pub = result.published
    assert len(pd.read_parquet(pub.parquet)) == result.rows == len(_db_rows(pub.database_url, cfg.output.table))
    assert Path(pub.summary).exists() and pub.exports is not None
    err = capsys.readouterr().err
    assert "MLflow logging of the score run failed after the outputs were published" in err
    assert "C17850" not in err
