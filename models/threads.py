"""Thread settings for LightGBM that hold up on a busy machine.

LightGBM runs on OpenMP, whose worker threads by default spin while they wait for work. On a machine
where anything else wants the cores, the spinning threads compete with that work and with each other:
a 100k-row fit with two threads took over 120 s next to two busy processes, against 5-12 s with
`OMP_WAIT_POLICY=PASSIVE` (threads sleep while waiting) and the same two threads (docs/performance.md).
OpenMP reads the policy once, when its library is loaded, so it must be in the environment before
lightgbm (or scikit-learn) is imported: the CLI sets it first thing. With the passive policy a second
thread costs no extra CPU and takes a fair share of a contended machine, so LightGBM gets every core
this process may run on.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

WAIT_POLICY = "OMP_WAIT_POLICY"


def configure_openmp(environ: MutableMapping[str, str] = os.environ) -> None:
    """Make OpenMP threads sleep, not spin, while waiting; a policy the user set is kept."""
    environ.setdefault(WAIT_POLICY, "PASSIVE")


def lightgbm_n_jobs(environ: MutableMapping[str, str] = os.environ) -> int:
    """LightGBM's `n_jobs`: OMP_NUM_THREADS when the user set it, else the cores this process may use."""
    try:
        wanted = int(environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        wanted = 0
    if wanted > 0:
        return wanted
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity API (macOS, Windows)
        return max(1, os.cpu_count() or 1)
