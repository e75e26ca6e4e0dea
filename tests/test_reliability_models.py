"""Reliability (issue 16): models load only when they are what the pipeline registered; promotions move together."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from segment.config import TrackingConfig
from segment.errors import ModelRegistryError
from segment.pipeline import model_safety, tracking
from segment.pipeline.runs import latest_train_runs
from segment.pipeline.score import score
from tests.test_scoring import _config_beside


class Payload:
    """Unpickling this runs a command: what a hostile model file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _rewrite_paths(db: Path, old: str, new: str) -> None:
    """Point every location in a copied MLflow store at the copy."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            for col in conn.execute(f'PRAGMA table_info("{t}")').fetchall():
                if col[2].upper().startswith(("VARCHAR", "TEXT")):
                    conn.execute(f'UPDATE "{t}" SET "{col[1]}" = replace("{col[1]}", ?, ?)', (old, new))


@pytest.fixture
def store(trained, tmp_path):
    """A private copy of the trained MLflow store (tests here tamper with it); config pointing at it."""
    source, _, _ = trained
    copy = tmp_path / "store"
    copy.mkdir()
    shutil.copy(source / "mlflow.db", copy / "mlflow.db")
    shutil.copytree(source / "mlartifacts", copy / "mlartifacts")
    _rewrite_paths(copy / "mlflow.db", str(source / "mlartifacts"), str(copy / "mlartifacts"))
    tracking_cfg = {"uri": f"sqlite:///{copy / 'mlflow.db'}", "artifact_root": str(copy / "mlartifacts")}
    cfg, _ = _config_beside(trained, tmp_path / "run", tracking=tracking_cfg)
    return cfg, copy


def _champion_folder(cfg, model: str = "churn") -> Path:
    tracking.setup(cfg.tracking)
    ref = tracking.champion(model, cfg.tracking.uri)
    return model_safety.local_path(MlflowClient().get_model_version_download_uri(ref.name, str(ref.version)))


def test_honest_champions_pass_the_checks_and_score(store):
    cfg, _ = store
    result = score(cfg, date(2011, 12, 9))
    assert result.rows > 1000


def test_a_pickle_swapped_in_for_the_model_file_never_runs(store, tmp_path):
    cfg, _ = store
    folder, marker = _champion_folder(cfg), tmp_path / "pwned"
    (folder / "model.skops").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelRegistryError, match="does not match the checksum"):
        score(cfg, date(2011, 12, 9))
    assert not marker.exists()


def test_an_mlmodel_edited_to_say_pickle_never_runs(store, tmp_path):
    cfg, _ = store
    folder, marker = _champion_folder(cfg), tmp_path / "pwned"
    (folder / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    meta["flavors"]["sklearn"].update(serialization_format="cloudpickle", pickled_model="model.pkl")
    meta["flavors"]["python_function"]["model_path"] = "model.pkl"
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(ModelRegistryError, match="not a skops scikit-learn model"):
        score(cfg, date(2011, 12, 9))
    assert not marker.exists()


def test_a_registry_row_pointing_outside_the_artifact_root_is_refused_before_loading(store, tmp_path):
    cfg, copy = store
    folder, marker = _champion_folder(cfg), tmp_path / "pwned"
    evil = tmp_path / "srv" / "elsewhere" / "evil"
    shutil.copytree(folder, evil)
    (evil / "model.skops").write_bytes(pickle.dumps(Payload(marker)))
    _rewrite_paths(copy / "mlflow.db", str(folder), str(evil))
    with pytest.raises(ModelRegistryError, match="outside the artifact root"):
        score(cfg, date(2011, 12, 9))
    assert not marker.exists()


def test_a_model_registered_without_a_checksum_is_refused_with_a_clear_message(store):
    cfg, copy = store
    with sqlite3.connect(copy / "mlflow.db") as conn:
        conn.execute("DELETE FROM model_version_tags WHERE key LIKE 'segment_%sha256'")
    with pytest.raises(ModelRegistryError, match="no recorded checksum.*retrain"):
        score(cfg, date(2011, 12, 9))


def test_types_outside_the_allow_list_are_refused_even_with_matching_checksums(tmp_path):
    root = tmp_path / "artifacts"
    folder = root / "m"
    folder.mkdir(parents=True)
    skops.io.dump({"step": print}, folder / "model.skops")
    mlmodel = {
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.skops"},
            "sklearn": {"pickled_model": "model.skops", "serialization_format": "skops", "code": None},
        }
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    tags = model_safety.checksum_tags(folder)
    with pytest.raises(ModelRegistryError, match=r"outside the allow-list: \['builtins.print'\]"):
        model_safety.verify_model_folder(folder, root, tags, "test")
    mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = ["builtins.eval"]
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ModelRegistryError, match="trusts types outside the allow-list"):
        model_safety.verify_model_folder(folder, root, model_safety.checksum_tags(folder), "test")


# --- promotion and dead runs, on a small store of their own -----------------------------------------------


def _tiny(tmp_path: Path) -> tuple[TrackingConfig, pd.DataFrame, LogisticRegression]:
    cfg = TrackingConfig(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=str(tmp_path / "mlartifacts"), experiment="t"
    )
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    return cfg, X, LogisticRegression().fit(X, (X["a"] > 20).astype(int))


def _aliases(names: list[str]) -> dict[str, str | None]:
    client, out = MlflowClient(), {}
    for n in names:
        aliases = client.get_registered_model(n).aliases
        out[n] = None if aliases.get("champion") is None else str(aliases["champion"])
    return out


def test_champion_aliases_move_together_only_at_the_end_of_a_successful_train(tmp_path, monkeypatch):
    cfg, X, model = _tiny(tmp_path)
    exp = tracking.setup(cfg)
    with tracking.run(exp, "train") as run_id:
        tracking.log_and_register(model, "churn", X, predict_fn="predict_proba", set_champion=True)
        tracking.log_and_register(model, "propensity", X, predict_fn="predict_proba", set_champion=True)
        assert _aliases(["churn", "propensity"]) == {"churn": None, "propensity": None}  # nothing moved mid-train
    tracking.promote_pending(run_id)
    assert _aliases(["churn", "propensity"]) == {"churn": "1", "propensity": "1"}
    # a train that dies before its end moves nothing
    exp = tracking.setup(cfg)
    with pytest.raises(RuntimeError), tracking.run(exp, "train"):
        tracking.log_and_register(model, "churn", X, predict_fn="predict_proba", set_champion=True)
        raise RuntimeError("killed")
    assert _aliases(["churn", "propensity"]) == {"churn": "1", "propensity": "1"}
    # a crash while the aliases move is finished the next time the store is opened
    exp = tracking.setup(cfg)
    with tracking.run(exp, "train") as run_id:
        for name in ("churn", "propensity"):
            tracking.log_and_register(model, name, X, predict_fn="predict_proba", set_champion=True)
    real, calls = MlflowClient.set_registered_model_alias, []

    def dies(self, name, alias, version):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between two alias moves")
        return real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", dies)
    with pytest.raises(KeyboardInterrupt):
        tracking.promote_pending(run_id)
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real)
    assert _aliases(["churn", "propensity"]) == {"churn": "3", "propensity": "1"}  # half-promoted, for now
    tracking.setup(cfg)
    assert _aliases(["churn", "propensity"]) == {"churn": "3", "propensity": "2"}
    assert MlflowClient().get_run(run_id).data.tags[tracking.PROMOTION_STATE_TAG] == "done"


def test_a_train_whose_process_died_is_marked_failed_on_the_next_open_and_runs_says_so(tmp_path):
    cfg, _, _ = _tiny(tmp_path)
    script = textwrap.dedent(
        f"""
        import os, signal
        from segment.config import TrackingConfig
        from segment.pipeline import tracking
        cfg = TrackingConfig(uri={cfg.uri!r}, artifact_root={cfg.artifact_root!r}, experiment="t")
        with tracking.run(tracking.setup(cfg), "train") as run_id:
            print(run_id, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    dead = proc.stdout.strip()
    exp = tracking.setup(cfg)
    with tracking.run(exp, "train") as alive:  # this process's own run is alive: not touched
        tracking.setup(cfg)
        assert MlflowClient().get_run(alive).info.status == "RUNNING"
    assert MlflowClient().get_run(dead).info.status == "FAILED"
    runs = latest_train_runs(cfg, 5).set_index("run")
    assert runs.loc[dead[:8], "status"] == "failed (process died)"
    assert runs.loc[alive[:8], "status"] == "finished"
