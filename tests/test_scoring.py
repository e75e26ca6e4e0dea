"""Batch scoring that marketing jobs can depend on: outputs, faults, safety, drift."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from segment.errors import InputError, ModelRegistryError, UserError
from segment.pipeline import database, outputs, tracking
from segment.pipeline.config_file import load_config
from segment.pipeline.score import score
from tests.conftest import NON_PRODUCT, RETAIL_COLUMNS, SAMPLE, write_config


def _config_beside(trained, folder: Path, data: dict | None = None, **sections):
    """A config with its own output root that shares the trained store (same champions)."""
    store, cfg, _ = trained
    data = data or {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS, "non_product_codes": NON_PRODUCT}
    tracking_cfg = {
        "uri": f"sqlite:///{store / 'mlflow.db'}",
        "artifact_root": str(store / "mlartifacts"),
        "experiment": "test",
    } | sections.pop("tracking", {})
    folder.mkdir(parents=True, exist_ok=True)
    path = write_config(folder, data, tracking=tracking_cfg, **sections)
    return load_config(path), path


def _digest(root: Path) -> dict[str, str]:
    """Every visible output file under root -> its sha256 (hidden staging/lock files excluded)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.suffix != ".db"
        and "reports" not in p.parts
        and p.name != "moved_active_to_at_risk.csv"  # like the summary: relative to the previous date present
    }


def _db_rows(url: str, table: str) -> pd.DataFrame:
    with sa.create_engine(url).connect() as conn:
        rows = pd.read_sql_table(table, conn)
    keys = [c for c in ("score_date", "scheme", "segment", "customer_id") if c in rows]
    return rows.sort_values(keys).reset_index(drop=True)


def test_outputs_summary_and_exports(trained, tmp_path):
    cfg, _ = _config_beside(trained, tmp_path)
    result = score(cfg)
    root = Path(cfg.output.root)
    summary = pd.read_parquet(root / "segment_summary" / f"score_date={result.score_date}" / "part-0.parquet")
    for _, part in summary.groupby("scheme"):
        assert part["customers"].sum() == result.rows
        assert part["share"].sum() == pytest.approx(1.0)
    assert set(summary["scheme"]) == {"rfm_segment", "lifecycle_stage", "cluster_name"}
    assert len(_db_rows(result.published.database_url, cfg.output.summary_table)) == len(summary)
    files = sorted((result.published.exports / "rfm_segment").glob("*.csv"))
    exported = pd.concat([pd.read_csv(f, dtype={"customer_id": str}) for f in files])
    assert sorted(exported["customer_id"]) == sorted(result.table["customer_id"])
    assert tuple(exported.columns) == outputs.EXPORT_COLUMNS  # no attribute (PII) columns unless the config lists them
    assert exported["expected_revenue"].round(2).eq(exported["expected_revenue"]).all()  # money to 2 decimals
    assert "cant_lose_them.csv" in {f.name for f in files} or "champions.csv" in {f.name for f in files}


def test_customers_without_a_purchase_by_the_date_are_counted_not_scored(trained, tmp_path):
    cfg, _ = _config_beside(trained, tmp_path)
    early = score(cfg, date(2010, 6, 1))
    raw = pd.concat([pd.read_parquet(f) for f in SAMPLE.glob("*.parquet")])
    ok = raw["Customer ID"].notna() & ~raw["StockCode"].isin(NON_PRODUCT) & (raw["Price"] > 0)
    known = raw[ok]["Customer ID"].nunique()
    bought = raw[ok & (raw["Quantity"] > 0) & (raw["InvoiceDate"] < pd.Timestamp("2010-06-02"))]["Customer ID"]
    assert early.rows == bought.nunique()
    assert early.scored.not_scored == known - bought.nunique() > 0


def test_rescoring_is_byte_identical_and_leaves_other_dates_alone(trained, tmp_path):
    cfg, _ = _config_beside(trained, tmp_path)
    root = Path(cfg.output.root)
    first = score(cfg)
    other = score(cfg, first.score_date - timedelta(days=7))
    before = _digest(root)
    db_before = _db_rows(first.published.database_url, cfg.output.table)
    again = score(cfg)
    assert _digest(root) == before  # same bytes for both dates, exports included
    pd.testing.assert_frame_equal(_db_rows(again.published.database_url, cfg.output.table), db_before)
    assert other.rows > 0


def _wait_for(path: Path, seconds: float = 120) -> None:
    end = time.time() + seconds
    while not path.exists():
        if time.time() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.1)


def test_a_killed_score_run_leaves_the_previous_outputs_exactly_as_they_were(trained, tmp_path):
    cfg, path = _config_beside(trained, tmp_path)
    root = Path(cfg.output.root)
    first = score(cfg)
    before, db_before = _digest(root), _db_rows(first.published.database_url, cfg.output.table)
    marker = tmp_path / "staged"
    env = {**os.environ, outputs.PAUSE_ENV: "60", outputs.PAUSE_ENV + "_MARKER": str(marker)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from segment.pipeline.cli import main; main()",
            "score",
            "--config",
            str(path),
            "-q",
            "--set",
            "scoring.churn_risk_thresholds=[0.1,0.2]",
        ],  # a different table, so a mix would show
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(marker)  # the new partition is written to its temporary name, not yet renamed
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _digest(root) == before
    pd.testing.assert_frame_equal(_db_rows(first.published.database_url, cfg.output.table), db_before)
    after = score(cfg)  # the next run completes and cleans up
    assert after.rows == first.rows
    assert not [p for p in root.rglob(".*") if p.suffix == ".tmp" or ".staging-" in p.name]


def test_a_second_run_for_the_same_date_waits_or_fails_clearly(trained, tmp_path):
    cfg, _ = _config_beside(trained, tmp_path, scoring={"lock_timeout_seconds": 0})
    root = Path(cfg.output.root)
    when = date(2011, 12, 9)
    with outputs.score_lock(root, when, timeout=0):  # another run holds the date
        with pytest.raises(UserError, match="another score run is writing 2011-12-09"):
            score(cfg, when)
    assert not (root / "segment_table").exists()  # the loser wrote nothing
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time, filelock; l = filelock.FileLock({str(root / f'.score-{when}.lock')!r}); l.acquire();"
            " print('held', flush=True); time.sleep(3)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    waiting, _ = _config_beside(
        trained, tmp_path / "w", output={"root": str(root)}, scoring={"lock_timeout_seconds": 60}
    )
    result = score(waiting, when)  # waits for the holder, then writes one whole result
    holder.wait(timeout=30)
    assert len(pd.read_parquet(result.published.parquet)) == result.rows


def test_no_champion_and_unreachable_registry_give_clear_messages(trained, tmp_path, monkeypatch):
    cfg, _ = _config_beside(trained, tmp_path, tracking={"model_prefix": "nobody_"})
    with pytest.raises(ModelRegistryError, match="run `segment train`"):
        score(cfg)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(ModelRegistryError, match=r"http://127\.0\.0\.1:9"):
        score(cfg)


def test_input_that_breaks_the_signature_fails_clearly(trained):
    _, cfg, _ = trained
    tracking.setup(cfg.tracking)
    ref = tracking.champion("propensity", tracking.tracking_uri(cfg.tracking))
    model = tracking.load_pyfunc(ref)
    cols = tracking.input_names(model)
    frame = pd.DataFrame({c: [1.0, 2.0] for c in cols}).assign(country="United Kingdom")
    assert tracking.predict_positive(model, frame, "propensity").shape == (2,)
    with pytest.raises(InputError, match="needs feature columns \\['recency_days'\\]"):
        tracking.predict_positive(model, frame.drop(columns="recency_days"), "propensity")
    with pytest.raises(InputError, match="rejected the input against its signature"):
        tracking.predict_positive(model, frame.assign(frequency=["many", "few"]), "propensity")


def test_drift_is_reported_and_can_fail_the_run_before_any_write(trained, tmp_path):
    cfg, _ = _config_beside(trained, tmp_path, scoring={"fail_on_drift": 0.0001})
    with pytest.raises(InputError, match="fail_on_drift"):
        score(cfg)
    root = Path(cfg.output.root)  # no output; only the store of the (valid) clean lines
    assert not root.exists() or [p.name for p in root.iterdir()] in ([], ["store"])
    ok, _ = _config_beside(trained, tmp_path / "ok")
    result = score(ok, date(2011, 6, 1))  # half a year before the training snapshot: some drift
    assert result.scored.drift and max(result.scored.drift.values()) > 0  # six months apart: something moved
    assert "population stability index" in result.published.summary.read_text()


def test_paths_and_names_from_config_cannot_escape_or_inject(tmp_path):
    with pytest.raises(InputError, match="escape"):
        outputs.inside(tmp_path, "..", "etc")
    with pytest.raises(InputError, match="escape"):
        outputs.inside(tmp_path, "/etc/passwd")
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(InputError, match="escape"):
        outputs.inside(tmp_path, "link", "etc")
    assert outputs.slug("../../Can't Lose Them") == "cant_lose_them"
    with pytest.raises(Exception, match="output.table"):
        load_config(
            write_config(
                tmp_path, {"source": "x.csv", "columns": RETAIL_COLUMNS}, output={"table": "segments; drop table x; --"}
            )
        )


def test_exports_carry_only_listed_attributes_and_never_log_them(trained, tmp_path, capsys, caplog):
    raw = pd.concat([pd.read_parquet(f) for f in sorted(SAMPLE.glob("*.parquet"))], ignore_index=True)
    raw["Email"] = raw["Customer ID"].map(lambda c: None if pd.isna(c) else f"c{int(c)}@example.com")
    raw["Phone"] = "+44 20 7946 0000"
    raw.to_parquet(tmp_path / "with_pii.parquet", index=False)
    data = {
        "source": str(tmp_path / "with_pii.parquet"),
        "columns": RETAIL_COLUMNS,
        "non_product_codes": NON_PRODUCT,
        "customer_attributes": {"email": "Email", "phone": "Phone"},
    }
    cfg, _ = _config_beside(trained, tmp_path, data=data, output={"export_attributes": ["email"]})
    result = score(cfg)
    exported = pd.read_csv(next((result.published.exports / "rfm_segment").glob("*.csv")), dtype=str)
    assert "email" in exported and "phone" not in exported
    assert exported["email"].str.endswith("@example.com").all()
    assert not any(c in pd.read_parquet(result.published.parquet).columns for c in ("email", "phone", "Email"))
    out, err = capsys.readouterr()
    assert "@example.com" not in out + err + caplog.text


def test_database_output_on_postgresql(trained, postgres_url):
    _, cfg, _ = trained
    table = pd.DataFrame({"customer_id": ["1", "2"], "score_date": [date(2021, 1, 1)] * 2, "x": [1.0, 2.0]})
    name = f"seg_{os.getpid()}"
    for _ in range(2):  # a re-run replaces the date's rows
        database.write_database({name: table}, postgres_url, date(2021, 1, 1))
    database.write_database({name: table.assign(score_date=date(2021, 1, 8))}, postgres_url, date(2021, 1, 8))
    rows = _db_rows(postgres_url, name)
    assert len(rows) == 4 and rows.groupby("score_date").size().eq(2).all()
    newer = table.assign(score_date=date(2021, 1, 15), risk=["low", "high"])  # a column an upgrade added
    database.write_database({name: newer}, postgres_url, date(2021, 1, 15))
    rows = _db_rows(postgres_url, name)
    assert len(rows) == 6 and rows["risk"].isna().sum() == 4 and set(rows["risk"].dropna()) == {"low", "high"}
