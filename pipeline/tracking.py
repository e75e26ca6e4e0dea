"""The MLflow adapter: the only module that imports mlflow.

Store setup, runs, logging, the registry, loading champions, predicting through a model's signature and
reading past runs. What to record is decided by `record.py`; `features/` and `models/` never see MLflow.
Models are logged through `mlflow.sklearn` with `pyfunc_predict_fn="predict_proba"`, so pyfunc loading
returns probabilities, not labels (a LightGBM flavour model would return 0/1).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from segment.config import TrackingConfig
from segment.errors import InputError, ModelRegistryError
from segment.pipeline import model_safety
from segment.pipeline.model_env import model_pip_requirements
from segment.pipeline.safe_input import redact

CHAMPION = "champion"
# MLflow 3.x UI: an experiment without this tag may open on GenAI traces; ours holds runs and models
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PROMOTION_TAG, PROMOTION_STATE_TAG = "segment_promotion", "segment_promotion_state"
# set by `setup`: the artifact root models must be stored in, and the promotions a train collects until it ends
_state: dict[str, Any] = {"artifact_root": None, "pending": []}


def configure_logging(verbose: bool) -> None:
    """MLflow's and alembic's INFO lines drown the stage lines: shown only when verbose."""
    level = logging.INFO if verbose else logging.WARNING
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)
    if not verbose:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def tracking_uri(cfg: TrackingConfig) -> str:
    """The environment's MLFLOW_TRACKING_URI wins over the config."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri


def setup(cfg: TrackingConfig) -> str:
    """Point MLflow at the store, create it and the experiment once; return the experiment id."""
    uri = tracking_uri(cfg)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    _state["artifact_root"], _state["pending"] = Path(cfg.artifact_root), []
    try:
        exp = mlflow.get_experiment_by_name(cfg.experiment)
        if exp is None:
            try:
                return mlflow.create_experiment(
                    cfg.experiment, artifact_location=Path(cfg.artifact_root).as_uri(), tags=EXPERIMENT_KIND
                )
            except MlflowException:  # created concurrently by another process
                exp = mlflow.get_experiment_by_name(cfg.experiment)
        if not set(EXPERIMENT_KIND) & set(exp.tags):  # created before the kind was set; a user's choice stays
            MlflowClient().set_experiment_tag(exp.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        repair_store(exp.experiment_id)
        return exp.experiment_id
    except MlflowException as e:
        raise ModelRegistryError(f"cannot reach the MLflow tracking store at {uri}: {e.message}") from None


def repair_store(experiment_id: str) -> None:
    """Mark runs whose process died as FAILED and finish promotions a crash interrupted (on every open)."""
    client = MlflowClient()
    for r in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        if model_safety.process_died(dict(r.data.tags)):
            client.set_tag(r.info.run_id, model_safety.DIED_TAG, "process died")
            client.set_terminated(r.info.run_id, status="FAILED")
    pending = client.search_runs([experiment_id], filter_string=f"tags.{PROMOTION_STATE_TAG} = 'pending'")
    for r in pending:  # the train finished and decided; the crash came while its aliases moved
        _move_aliases(client, r.info.run_id, json.loads(r.data.tags[PROMOTION_TAG]))


@contextlib.contextmanager
def run(experiment_id: str, name: str, *, nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[str]:
    """Open a run; a failure closes it as FAILED. Yields the run id."""
    tags = {**(tags or {}), **model_safety.process_tags()}  # who runs it: a run whose process died is marked FAILED
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=nested, tags=tags) as active:
        yield active.info.run_id


def log_params(params: dict[str, Any]) -> None:
    """Log params in batches (the store limits one call)."""
    items = list(params.items())
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i : i + 100]))


def log_metrics(metrics: dict[str, float], prefix: str = "", step: int | None = None) -> None:
    """Log finite metrics under `prefix`; NaN values (undefined metrics) are skipped."""
    clean = {f"{prefix}{k}": float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    if clean:
        mlflow.log_metrics(clean, step=step)


def log_json(obj: Any, artifact_file: str) -> None:
    """Log a JSON-serialisable object as an artifact."""
    mlflow.log_dict(json.loads(json.dumps(obj, default=str)), artifact_file)


def log_text(text: str, artifact_file: str) -> None:
    """Log a text artifact."""
    mlflow.log_text(text, artifact_file)


def log_frame(df: pd.DataFrame, artifact_file: str) -> None:
    """Log a table as CSV."""
    mlflow.log_text(df.to_csv(index=False), artifact_file)


def log_figure(fig: Any, artifact_file: str) -> None:
    """Log a matplotlib figure as PNG and close it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, artifact_file)
    plt.close(fig)


def set_tags(tags: dict[str, str]) -> None:
    """Tag the active run."""
    mlflow.set_tags(tags)


def git_commit(path: Path) -> str:
    """The repo's commit, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fingerprint(payload: Any) -> str:
    """Short stable hash of a JSON-serialisable payload."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model version and the run that logged it."""

    name: str
    version: int
    run_id: str


def log_and_register(
    model: Any, name: str, X_example: pd.DataFrame, *, predict_fn: str, set_champion: bool
) -> RegisteredModel:
    """Log a fitted scikit-learn model with signature and input example; register it; alias it."""
    example = X_example.head(200)
    output = getattr(model, predict_fn)(example)
    signature = infer_signature(example, output)
    # skops (no pickle) is the storage format; we trust exactly the types this model is built of
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    # MLflow prints "Successfully registered model ..." straight to stderr; keep it only when verbose
    quiet = not logging.getLogger("mlflow").isEnabledFor(logging.INFO)
    with contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext():
        info = _log_model(model, name, signature, example, predict_fn, trusted)
    version = int(info.registered_model_version)
    client = MlflowClient()
    folder = model_safety.local_path(client.get_model_version_download_uri(name, str(version)))
    for tag, value in model_safety.checksum_tags(folder).items():  # verified before every load
        client.set_model_version_tag(name, str(version), tag, value)
    if set_champion:  # moved with the others at the end of a successful train (`promote_pending`)
        _state["pending"].append({"name": name, "version": str(version)})
    return RegisteredModel(name, version, mlflow.active_run().info.run_id)


def promote_pending(run_id: str) -> None:
    """Move the champion aliases of every model this train decided to promote, together, after it succeeded.

    The list is written to the run first (state `pending`); a crash while the aliases move is finished the
    next time the store is opened (`repair_store`), so scoring never mixes a half-promoted train for long.
    """
    pending, _state["pending"] = _state["pending"], []
    if not pending:
        return
    client = MlflowClient()
    client.set_tag(run_id, PROMOTION_TAG, json.dumps(pending))
    client.set_tag(run_id, PROMOTION_STATE_TAG, "pending")
    _move_aliases(client, run_id, pending)


def _move_aliases(client: MlflowClient, run_id: str, promotions: list[dict[str, str]]) -> None:
    for p in promotions:
        client.set_registered_model_alias(p["name"], CHAMPION, p["version"])
    client.set_tag(run_id, PROMOTION_STATE_TAG, "done")


def _log_model(model: Any, name: str, signature: Any, example: pd.DataFrame, predict_fn: str, trusted: list[str]):
    return mlflow.sklearn.log_model(
        sk_model=model,
        name=name,
        signature=signature,
        input_example=example.head(5),
        pyfunc_predict_fn=predict_fn,
        registered_model_name=name,
        serialization_format="skops",
        skops_trusted_types=trusted,
        pip_requirements=model_pip_requirements(),  # inferring them costs ~18 s and lists dev tools
    )


def champion(name: str, uri: str) -> RegisteredModel:
    """The version the `champion` alias points at, or a clear error saying to train first."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise ModelRegistryError(
                f"no champion model {name!r} is registered at {uri}: run `segment train` (or `make train`) first"
            ) from None
        raise ModelRegistryError(f"cannot reach the MLflow model registry at {uri}: {e.message}") from None
    return RegisteredModel(name, int(mv.version), mv.run_id)


def verified_folder(ref: RegisteredModel) -> str:
    """The registered version's folder, checked before any deserialisation (model_safety.verify_model_folder)."""
    if _state["artifact_root"] is None:
        raise ModelRegistryError("the tracking store is not set up (tracking.setup) before loading a model")
    client = MlflowClient()
    label = f"{ref.name!r} v{ref.version}"
    try:
        uri = client.get_model_version_download_uri(ref.name, str(ref.version))
        tags = dict(client.get_model_version(ref.name, str(ref.version)).tags)
    except MlflowException as e:
        raise ModelRegistryError(f"cannot read model {label} from the registry: {e.message}") from None
    folder = model_safety.local_path(uri)
    return str(model_safety.verify_model_folder(folder, _state["artifact_root"], tags, label))


def load_pyfunc(ref: RegisteredModel) -> Any:
    """Load a registered version as pyfunc (signature-enforcing), from its verified folder."""
    return mlflow.pyfunc.load_model(verified_folder(ref))


def load_sklearn(ref: RegisteredModel) -> Any:
    """Load a registered version as the original scikit-learn object, from its verified folder."""
    return mlflow.sklearn.load_model(verified_folder(ref))


def load_run_json(run_id: str, artifact_file: str) -> Any | None:
    """A JSON artifact of a run, or None when the run has no such artifact."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact_file}")
    except (MlflowException, OSError):
        return None


def input_names(model: Any) -> list[str]:
    """The columns a pyfunc model's signature asks for, in order."""
    return model.metadata.get_input_schema().input_names()


def predict_positive(model: Any, features: pd.DataFrame, name: str) -> np.ndarray:
    """P(class 1) through pyfunc.

    Exactly the signature's columns reach the model; a schema mismatch becomes a clear error with no data in it.
    """
    cols = input_names(model)
    missing = [c for c in cols if c not in features]
    if missing:
        raise InputError(
            f"model {name!r} needs feature columns {missing} that the data cannot provide "
            f"(was it trained with other column mappings?)"
        )
    try:
        out = np.asarray(model.predict(features[cols]))
    except MlflowException as e:
        first = redact(str(e.message))  # MLflow's message can quote input rows
        raise InputError(f"model {name!r} rejected the input against its signature: {first}") from None
    if out.ndim != 2 or out.shape[1] != 2:
        raise InputError(f"model {name!r} returned shape {out.shape}, not class probabilities")
    return out[:, 1].astype(float)


@dataclass(frozen=True)
class PastRun:
    """A finished or running train run as `segment runs` shows it."""

    run_id: str
    start_time_ms: int
    status: str
    tags: dict[str, str]
    metrics: dict[str, float]


def train_runs(cfg: TrackingConfig, limit: int) -> list[PastRun]:
    """The latest `train` runs of the config's experiment, newest first."""
    uri = tracking_uri(cfg)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.search_runs(
        [setup(cfg)],
        filter_string="attributes.run_name = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return [
        PastRun(r.info.run_id, r.info.start_time, r.info.status, dict(r.data.tags), dict(r.data.metrics)) for r in found
    ]


def champion_version(name: str, uri: str) -> int | None:
    """The champion's version number, or None when there is none."""
    try:
        return champion(name, uri).version
    except ModelRegistryError:
        return None


def train_run_of(run_id: str) -> str:
    """The top-level run a model's run belongs to (its parent `train` run), or the run itself."""
    tags = MlflowClient().get_run(run_id).data.tags
    return tags.get("mlflow.parentRunId") or run_id


def signature_columns(model_uri: str) -> list[str]:
    """A logged model's input columns, in signature order, read from its metadata (no deserialisation)."""
    return list(mlflow.models.get_model_info(model_uri).signature.inputs.input_names())


def spark_udf(spark: Any, model_uri: str, *, result_type: Any, env_manager: str) -> Any:
    """`mlflow.pyfunc.spark_udf` for the Spark engine's scorer (`spark_scoring.py` says which traps it avoids)."""
    return mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager=env_manager)
