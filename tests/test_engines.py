"""engine: spark is optional: without its extra a run stops with one message naming the install command."""

from __future__ import annotations

import sys

import pytest

from segment.errors import ConfigError
from segment.pipeline.config_file import load_config
from segment.pipeline.engines import prepare_for, require_spark
from tests.conftest import RETAIL_COLUMNS, SAMPLE, write_config


def test_engine_is_duckdb_unless_set(tmp_path):
    path = write_config(tmp_path, {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS})
    assert load_config(path).engine == "duckdb"
    assert load_config(path, ["engine=spark"]).engine == "spark"
    with pytest.raises(ConfigError, match="engine"):
        load_config(path, ["engine=flink"])


def test_spark_without_the_extra_fails_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if not installed
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[spark\]'"):
        require_spark()
    path = write_config(tmp_path, {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS})
    with pytest.raises(ConfigError, match="pyspark( and sqlglot)? not installed"):  # sqlglot too in a venv without it
        prepare_for(load_config(path, ["engine=spark"]))
