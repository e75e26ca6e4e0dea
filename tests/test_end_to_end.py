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
    assert set(result.versions) == {"segmenter", "churn", "propensity", "value", "timing"}
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


def test_train_registers_value_and_timing_with_their_metrics_and_cards(trained):
    import mlflow

    folder, cfg, result = trained
    client = mlflow.tracking.MlflowClient()
    exp_id = client.get_run(result.run_id).info.experiment_id
    for name in ("value", "timing"):
        champion = client.get_model_version_by_alias(name, "champion")  # promoted with the others at the end
        assert champion.run_id != result.run_id  # logged in the model's nested run
        assert int(champion.version) == result.versions[name]
    runs = {
        r.info.run_name: r
        for r in client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
        if r.info.run_name in ("value", "timing")
    }
    value, timing = runs["value"].data.metrics, runs["timing"].data.metrics
    assert 0.3 < value["value_val_spearman"] <= 1.0  # the sample carries real signal (0.58 measured)
    assert 0.3 < value["value_val_gini"] <= 1.0 and 0.2 < value["value_val_top_decile_capture"] <= 1.0
    assert value["value_val_mae"] > 0 and value["value_val_bias"] > 0
    assert "value_baseline_last_h_days_val_spearman" in value  # the baselines, same rows, same run
    assert 0 < timing["timing_val_mae_days"] <= max(cfg.value.timing_grid_days)
    assert 0 <= timing["timing_val_dated_share"] <= 1 and "timing_baseline_klaviyo_val_mae_days" in timing
    parent = client.get_run(result.run_id).data
    assert "value_val_spearman" in parent.metrics and parent.tags["value_is_champion"] == "true"
    files = {a.path for a in client.list_artifacts(runs["value"].info.run_id)}
    plots = {a.path for a in client.list_artifacts(runs["value"].info.run_id, "plots")}
    assert "model_card.md" in files and {"plots/value_deciles.png", "plots/value_lorenz.png"} <= plots
    card = client.download_artifacts(runs["timing"].info.run_id, "model_card.md", str(folder / "dl_timing"))
    assert "# Model card: timing" in open(card).read()
    html = result.report_path.read_text()
    assert "Value model" in html and "Timing model" in html


def test_score_fills_value_tiers_and_next_order_dates(trained):
    folder, cfg, _ = trained
    result = score(cfg)
    table = pd.read_parquet(result.published.parquet)
    assert table["expected_revenue"].notna().all() and (table["expected_revenue"] >= 0).all()
    shares = table["value_tier"].value_counts(normalize=True)
    lo, hi = cfg.value.tier_percentiles
    assert set(shares.index) == {"high", "medium", "low"}
    assert shares["low"] == pytest.approx(lo, abs=0.02) and shares["high"] == pytest.approx(1 - hi, abs=0.02)
    # the highest tier holds the highest predictions
    assert (
        table.groupby("value_tier")["expected_revenue"].min()["high"]
        >= table.query("value_tier != 'high'")["expected_revenue"].max()
    )
    dates = pd.to_datetime(table["expected_next_order_date"])
    given = dates.dropna()
    assert 0 < len(given) < len(table)  # some customers get a date, some are not expected within the grid
    days = (given - pd.Timestamp(result.score_date)).dt.days
    assert (days > 0).all() and (days <= max(cfg.value.timing_grid_days)).all()
    assert (table["expected_orders"] >= 0).all() and table["expected_orders"].notna().all()
    assert "expected to order in the next 14 days" in result.published.html
    with sa.create_engine(result.published.database_url).connect() as conn:
        db = pd.read_sql_table(cfg.output.table, conn)
    assert {"expected_revenue", "value_tier", "expected_next_order_date", "expected_orders"} <= set(db.columns)


def test_score_without_value_champions_leaves_the_columns_empty_and_says_retrain(trained):
    import mlflow

    folder, cfg, _ = trained
    client = mlflow.tracking.MlflowClient()
    versions = {m: client.get_model_version_by_alias(m, "champion").version for m in ("value", "timing")}
    for m in versions:  # a store trained before value and timing existed
        client.delete_registered_model_alias(m, "champion")
    try:
        result = score(cfg)
    finally:
        for m, v in versions.items():
            client.set_registered_model_alias(m, "champion", v)
    table = result.table
    assert len(table) > 0 and table["churn_probability"].notna().all()
    assert table["expected_revenue"].isna().all() and table["value_tier"].isna().all()
    assert table["expected_next_order_date"].isna().all() and table["expected_orders"].isna().all()
    assert "no value champion is registered" in result.published.html and "segment train" in result.published.html


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
    # the value model too: a one-tree booster ranks worse than the champion re-scored on the same rows
    assert tags["value_is_champion"] == "false" and tags["value_champion_decision"].startswith("champion v")
    assert client.get_model_version_by_alias("value", "champion").version != str(result.versions["value"])
