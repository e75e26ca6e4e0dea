"""A registered model states its requirements: the project's runtime packages, pinned, no dev tools."""

import tomllib
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from segment.config import LightGBMConfig, TrackingConfig
from segment.models.classifiers import fit_classifier
from segment.pipeline import tracking
from segment.pipeline.model_env import model_pip_requirements

REPO = Path(__file__).resolve().parents[1]


def _runtime_dependencies() -> set[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in deps}


def test_requirements_are_pinned_runtime_dependencies():
    reqs = model_pip_requirements()
    names = {r.split("==")[0] for r in reqs}
    assert names <= _runtime_dependencies()
    assert {"scikit-learn", "lightgbm", "skops", "mlflow"} <= names
    assert all(r == f"{r.split('==')[0]}=={version(r.split('==')[0])}" for r in reqs)


def test_registered_model_logs_exactly_these_requirements(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=2000), "country": rng.choice(["a", "b"], 2000)})
    y = pd.Series((X["signal"] + rng.normal(size=2000) > 0).astype(int))
    model = fit_classifier(X[:1500], y[:1500], X[1500:], y[1500:], LightGBMConfig(n_estimators=20))
    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "art"), experiment="e")
    exp = tracking.setup(cfg)
    with tracking.run(exp, "t"):
        ref = tracking.log_and_register(model, "m", X, predict_fn="predict_proba", set_champion=True)
    local = mlflow.artifacts.download_artifacts(f"models:/m/{ref.version}", dst_path=str(tmp_path / "dl"))
    logged = (Path(local) / "requirements.txt").read_text().split()
    assert logged == model_pip_requirements()
    assert not any(r.startswith(("pytest", "ruff", "hypothesis", "rich")) for r in logged)
    p = tracking.load_pyfunc(ref).predict(X.head(5))
    assert np.all((np.asarray(p) >= 0) & (np.asarray(p) <= 1))
