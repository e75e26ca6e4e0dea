"""Train and score on the bundled sample, in a throwaway folder with its own MLflow store."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa

from segment.pipeline.score import score
from segment.pipeline.train import train
from tests.conftest import NON_PRODUCT, REPO, SAMPLE


def test_train_logs_and_registers_every_model(trained):
    folder, cfg, result = trained
    assert (folder / "mlflow.db").exists() and (folder / "mlartifacts").is_dir()
    assert set(result.versions) == {"segmenter", "churn", "propensity"}
    for target in ("churn", "propensity"):
        m = result.result.metrics[target]["model"]
        assert 0.6 < m["roc_auc"] <= 1.0  # the sample carries real signal
        assert 0 <= m["brier"] < 0.25
    import mlflow

    names = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(result.run_id)}
    assert {"data_report.json", "feature_catalogue.md", "report.html", "config.yaml"} <= names
    client = mlflow.tracking.MlflowClient()
    exp_id = client.get_run(result.run_id).info.experiment_id
    child = client.search_runs(
        [exp_id], f"tags.mlflow.parentRunId = '{result.run_id}' and attributes.run_name = 'propensity'"
    )
    files = {a.path for a in client.list_artifacts(child[0].info.run_id)}
    plots = {a.path for a in client.list_artifacts(child[0].info.run_id, "plots")}
    assert {"model_card.md", "drift_reference.json", "propensity_feature_importance.csv"} <= files
    # each search trial is a run nested in the model's run, scored on the tuning rows
    trials = client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{child[0].info.run_id}'")
    assert sorted(r.info.run_name for r in trials) == ["propensity_trial_0", "propensity_trial_1"]
    assert all(0 < r.data.metrics["tuning_log_loss"] < 0.7 for r in trials)
    assert {"num_leaves", "learning_rate"} <= set(trials[0].data.params)
    assert {
        "plots/propensity_gain.png",
        "plots/propensity_shap_importance.png",
        "plots/propensity_calibration.png",
    } <= plots


def test_score_writes_one_row_per_customer_with_valid_values(trained):
    folder, cfg, _ = trained
    result = score(cfg)
    table = pd.read_parquet(result.published.parquet)
    raw = pd.concat([pd.read_parquet(f) for f in SAMPLE.glob("*.parquet")])
    buyers = (
        raw[
            raw["Customer ID"].notna()
            & ~raw["StockCode"].isin(NON_PRODUCT)
            & (raw["Price"] > 0)
            & (raw["Quantity"] > 0)
        ]["Customer ID"]
        .astype("int64")
        .astype(str)
    )
    assert len(table) == result.rows == table["customer_id"].nunique() == buyers.nunique()
    assert set(table["customer_id"]) == set(buyers)
    for col in ("churn_probability", "purchase_probability"):
        assert table[col].between(0, 1).all() and table[col].notna().all()
    assert table["rfm_segment"].notna().all() and table["rfm_segment"].str.len().gt(0).all()
    assert table["cluster_id"].notna().all() and table["cluster_name"].notna().all()
    # each customer is in exactly one segment of each scheme: one row per customer, one value per column
    assert table.groupby("customer_id")[["rfm_segment", "cluster_id", "lifecycle_stage"]].nunique().eq(1).all().all()
    assert set(table["propensity_decile"]) <= set(range(1, 11))
    assert table["model_versions"].str.contains("propensity:1").all()
    with sa.create_engine(result.published.database_url).connect() as conn:
        db = pd.read_sql_table(cfg.output.table, conn)
    db = db[pd.to_datetime(db["score_date"]).dt.date == result.score_date]  # other tests score other dates
    assert len(db) == len(table) and set(db["customer_id"]) == set(table["customer_id"])


def test_cli_runs_from_another_folder_and_reports_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  source: x.parquet\n  columns: {customer_id: a, timestamp: b, amount: c}\n  colums: {}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "segment.pipeline.cli", "validate", "--config", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2
    assert "data.colums: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_a_retrain_matches_cluster_ids_to_the_champion_and_logs_profiles(trained):
    folder, cfg, _ = trained
    client = __import__("mlflow").tracking.MlflowClient()
    before = int(client.get_model_version_by_alias("segmenter", "champion").version)
    second = train(cfg, folder / "config.yaml")
    runs = client.search_runs(
        [client.get_experiment_by_name(cfg.tracking.experiment).experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{second.run_id}' and attributes.run_name = 'segments'",
    )
    metrics = runs[0].data.metrics
    assert metrics["segments_matched_to_champion"] == 1.0
    assert metrics["segments_customers_moved_share"] < 0.05  # same data, same clusters
    assert second.versions["segmenter"] > before  # a new version, and the champion alias moved to it
    assert int(client.get_model_version_by_alias("segmenter", "champion").version) == second.versions["segmenter"]
    profile_dir = client.download_artifacts(runs[0].info.run_id, "profiles", str(folder / "dl"))
    rfm = pd.read_csv(os.path.join(profile_dir, "rfm_segments.csv"))
    assert {"share", "revenue_share", "purchase_rate_at_validation", "churn_rate_at_validation"} <= set(rfm.columns)
    assert rfm["share"].sum() == pytest.approx(1.0)


def test_a_weaker_model_stays_a_challenger(trained, tmp_path):
    import mlflow

    folder, cfg, _ = trained
    client = mlflow.tracking.MlflowClient()
    before = client.get_model_version_by_alias("propensity", "champion").version
    weak = cfg.model_copy(
        update={
            "models": cfg.models.model_copy(
                update={"lightgbm": cfg.models.lightgbm.model_copy(update={"n_estimators": 1, "num_leaves": 2})}
            )
        }
    )
    result = train(weak, folder / "config.yaml")
    assert result.versions["propensity"] > int(before)  # registered ...
    assert client.get_model_version_by_alias("propensity", "champion").version == before  # ... not promoted
    tags = client.get_run(result.run_id).data.tags
    assert tags["propensity_is_champion"] == "false"
    assert tags["propensity_champion_decision"].startswith(f"champion v{before} kept: pr_auc")
