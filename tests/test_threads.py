"""The OpenMP wait policy is set before LightGBM loads, and n_jobs follows the usable cores."""

import os
import subprocess
import sys

from segment.models.threads import configure_openmp, lightgbm_n_jobs


def test_passive_by_default_and_a_user_policy_wins():
    env = {}
    configure_openmp(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    configure_openmp(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"


def test_n_jobs_is_the_usable_cores_unless_omp_num_threads_says_otherwise():
    assert lightgbm_n_jobs({}) == len(os.sched_getaffinity(0))
    assert lightgbm_n_jobs({"OMP_NUM_THREADS": "1"}) == 1
    assert lightgbm_n_jobs({"OMP_NUM_THREADS": "bogus"}) == len(os.sched_getaffinity(0))


def test_cli_sets_the_policy_before_lightgbm_is_loaded():
    """Importing the CLI must not load LightGBM or scikit-learn, or `main` would set the policy too late."""
    code = (
        "import os, sys\n"
        "os.environ.pop('OMP_WAIT_POLICY', None)\n"
        "import segment.pipeline.cli as cli\n"
        "assert not {'lightgbm', 'sklearn'} & set(sys.modules), sorted(sys.modules)\n"
        "sys.argv = ['segment', '--help']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE"
