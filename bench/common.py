"""What every results file says about where and how it was measured."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False).stdout.strip()


def header(title: str, section: str) -> str:
    """Title plus machine, commit, date and the command that reproduces the file.

    Code changed since the commit (results files aside) is flagged, so a number is never credited to a
    commit that did not produce it.
    """
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results"):
        commit += " plus uncommitted changes"
    return (
        f"# {title}\n\n"
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, commit `{commit or 'unknown'}`.\n"
        f"Reproduce: `make bench SECTIONS={section}`.\n\n"
    )


def table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A Markdown table (pandas' own `to_markdown` needs tabulate; this does not)."""

    def cell(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def write(results_dir: Path, section: str, text: str) -> Path:
    """Write bench/results/<section>.md atomically."""
    path = results_dir / f"{section}.md"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def measure(task: str, path: Path, timeout: float = 3600) -> dict:
    """Run `bench.child TASK PATH` in a fresh process: its JSON result plus the whole process's wall time."""
    import json
    import sys
    import time

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.child", task, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"bench.child {task} {path} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result | {"process_seconds": wall}
