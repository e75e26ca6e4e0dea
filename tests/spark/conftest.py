"""Spark in local mode for the `spark` tests: one session for the whole run (starting one takes 10-20 s)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

SKIP_REASON = (
    "pyspark is not installed (pip install -e '.[spark]')"
    if importlib.util.find_spec("pyspark") is None
    else "no java on PATH (Spark needs Java 17)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME")
    else None
)


def pytest_collection_modifyitems(items):
    """Every test under tests/spark carries the `spark` marker (`pytest -m spark` runs just them)."""
    for item in items:
        if "tests/spark/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def spark():
    """A local Spark session: one core, one shuffle partition, no UI, UTC, this interpreter for Python workers."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from segment.features.spark_engine import spark_session

    session = spark_session(
        "local[1]",
        {
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "1",
            "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def engine(spark):
    """The Spark engine over the test session."""
    from segment.features.spark_engine import SparkEngine

    return SparkEngine(spark)
