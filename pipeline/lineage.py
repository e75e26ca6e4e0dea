"""Lineage records: which code and data a run saw, which registered model version and run a score used.

Plain values with no MLflow in them, so results and tests can carry them without a tracking store.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True)
class PastRun:
    """A finished or running train run as `segment runs` shows it."""

    run_id: str
    start_time_ms: int
    status: str
    tags: dict[str, str]
    metrics: dict[str, float]
