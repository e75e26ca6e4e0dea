from pathlib import Path

import pytest

from segment.errors import ConfigError
from segment.pipeline.config_file import load_config
from tests.conftest import REPO


def test_default_configs_validate_and_resolve_paths_against_their_folder():
    cfg = load_config(REPO / "configs" / "default.yaml")
    assert cfg.data.source == [str(REPO / "data" / "sample" / "*.parquet")]
    assert cfg.tracking.uri == f"sqlite:///{REPO / 'mlflow.db'}"
    assert load_config(REPO / "configs" / "online_retail_ii.yaml").data.columns.customer_id == "Customer ID"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "data: {source: a.csv, columns: {customer_id: c, timestamp: t, amount: a}}\nmodel: {}\n",
            "model: unknown key",
        ),
        ("data: {source: a.csv, columns: {customer_id: c, timestamp: t}}\n", "map either `amount`"),
        (
            "data: {source: a.csv, columns: {customer_id: c, timestamp: t, amount: a}}\ntime: {horizon_days: x}\n",
            "time.horizon_days",
        ),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_configs_fail_with_the_key_named(tmp_path: Path, yaml_text, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("`", ".").replace("(", r"\(")):
        load_config(path)


def test_rfm_rules_must_cover_every_score(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {source: a.csv, columns: {customer_id: c, timestamp: t, amount: a}}\n"
        "segments: {rfm_rules: [{name: Champions, r: [5, 5]}]}\n"
    )
    with pytest.raises(ConfigError, match="unassigned"):
        load_config(path)


def test_overrides_apply_before_validation(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {source: a.csv, columns: {customer_id: c, timestamp: t, amount: a}}\n")
    assert load_config(path, ["time.horizon_days=30"]).time.horizon_days == 30


def test_config_reference_is_current():
    """docs/config.md is generated from the models: regenerate it with `python -m segment.pipeline.config_docs`."""
    from segment.pipeline.config_docs import DOC, render

    assert DOC.read_text() == render()
