"""Checks a registered model must pass before anything of it is deserialised, and run liveness records.

Loading a model runs code from its files: a pickle (or an `MLmodel` edited to say pickle) runs its payload.
So before MLflow opens a model folder we check, reading only YAML and file bytes:
- the folder lies inside the configured artifact root (a registry row pointing elsewhere is refused);
- `MLmodel` describes what the pipeline writes: the sklearn flavour, skops format, no code paths;
- the sha256 of `MLmodel` and of the model file equal the tags recorded at registration;
- every type the skops file would build is on an allow-list (skops refuses others when loading too).
No mlflow import here: `tracking.py` calls these with paths and tags.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import unquote, urlparse

import skops.io
import yaml

from segment.errors import ModelRegistryError

MODEL_SHA256_TAG = "segment_model_sha256"  # model-version tags written at registration
MLMODEL_SHA256_TAG = "segment_mlmodel_sha256"
# types a pipeline model may hold beyond skops' own trusted set (scikit-learn, numpy and scipy basics)
ALLOWED_TYPES = frozenset({"numpy.dtype", "collections.OrderedDict", "lightgbm.basic.Booster"})
ALLOWED_PREFIXES = ("sklearn.", "lightgbm.sklearn.", "segment.models.")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_path(uri: str) -> Path:
    """A `file:` URI or plain path as a local path; any other scheme is refused (we only load local files)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    raise ModelRegistryError(f"model location {uri!r} is not a local file: refused before loading")


def allowed_type(name: str) -> bool:
    """Whether a type the skops file names may be built when loading it."""
    return name in ALLOWED_TYPES or name.startswith(ALLOWED_PREFIXES)


def _mlmodel(folder: Path, label: str) -> tuple[dict, Path]:
    """The parsed MLmodel (safe YAML) and the model file it names, checked to be the pipeline's format."""
    try:
        meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise ModelRegistryError(f"model {label}: its MLmodel file is missing or not valid YAML") from None
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    sk = (flavors or {}).get("sklearn") or {}
    pyfunc = (flavors or {}).get("python_function") or {}
    if sk.get("serialization_format") != "skops" or pyfunc.get("loader_module") != "mlflow.sklearn":
        raise ModelRegistryError(
            f"model {label} is not a skops scikit-learn model (the only format the pipeline writes): refused"
        )
    if sk.get("code") or pyfunc.get("code"):
        raise ModelRegistryError(f"model {label} ships code paths: refused")
    name = str(sk.get("pickled_model", ""))
    if not name or Path(name).name != name or pyfunc.get("model_path", name) != name:
        raise ModelRegistryError(f"model {label}: its MLmodel names an unexpected model file {name!r}")
    bad = [t for t in sk.get("skops_trusted_types") or [] if not allowed_type(str(t))]
    if bad:
        raise ModelRegistryError(f"model {label} trusts types outside the allow-list: {bad}")
    return meta, folder / name


def verify_model_folder(folder: Path, artifact_root: Path, tags: dict[str, str], label: str) -> Path:
    """Check a model folder before any deserialisation; return its resolved path, the one to load from."""
    root = Path(artifact_root).resolve()
    real = Path(folder).resolve()
    if not real.is_relative_to(root):
        raise ModelRegistryError(f"model {label} is stored at {real}, outside the artifact root {root}: refused")
    _, model_file = _mlmodel(real, label)
    if model_file.is_symlink() or not model_file.resolve().is_relative_to(root):
        raise ModelRegistryError(f"model {label}: its model file leaves the artifact root: refused")
    expected = {MODEL_SHA256_TAG: model_file, MLMODEL_SHA256_TAG: real / "MLmodel"}
    missing = [t for t in expected if not tags.get(t)]
    if missing:
        raise ModelRegistryError(
            f"model {label} has no recorded checksum (registered before checksums were recorded): "
            "retrain with `segment train` to register a verifiable version"
        )
    for tag, path in expected.items():
        if not path.is_file() or file_sha256(path) != tags[tag]:
            raise ModelRegistryError(
                f"model {label}: {path.name} does not match the checksum recorded at registration "
                "(changed since): refused"
            )
    untrusted = [t for t in skops.io.get_untrusted_types(file=model_file) if not allowed_type(t)]
    if untrusted:
        raise ModelRegistryError(f"model {label} holds types outside the allow-list: {untrusted}: refused")
    return real


def checksum_tags(folder: Path) -> dict[str, str]:
    """The checksum tags of a freshly logged model folder (what `verify_model_folder` checks later)."""
    _, model_file = _mlmodel(Path(folder), str(folder))
    return {MODEL_SHA256_TAG: file_sha256(model_file), MLMODEL_SHA256_TAG: file_sha256(Path(folder) / "MLmodel")}


# ---------------------------------------------------------------------------------------------------------
# Liveness of runs: a run records which process runs it; a RUNNING run whose process is gone died.
# ---------------------------------------------------------------------------------------------------------
PID_TAG, HOST_TAG, BOOT_TAG, START_TAG = "segment_pid", "segment_host", "segment_boot_id", "segment_proc_start"
DIED_TAG = "segment_failure"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), '' when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name; starttime is the 22nd field


def process_tags() -> dict[str, str]:
    """Tags that identify this process, set on every run it opens."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), BOOT_TAG: _boot_id(), START_TAG: _proc_start(pid)}


def process_died(tags: dict[str, str]) -> bool:
    """Whether the process that opened a run (per its tags) is gone: False when it cannot be told.

    Only runs of this host can be judged. A reboot, a missing process or a process with the same id but a
    later start (the id was reused) all mean the run's process died.
    """
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    if not _proc_start(os.getpid()):  # no /proc here: liveness cannot be told, so nothing is marked
        return False
    if tags.get(BOOT_TAG) and _boot_id() and tags[BOOT_TAG] != _boot_id():
        return True
    now = _proc_start(int(tags[PID_TAG]))
    return not now or (bool(tags.get(START_TAG)) and now != tags[START_TAG])
