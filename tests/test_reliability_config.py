"""Reliability (issue 16): the output root and database names from config cannot point anywhere harmful."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from segment.errors import ConfigError
from segment.pipeline.config_file import load_config
from segment.pipeline.safe_paths import sqlite_url
from tests.conftest import RETAIL_COLUMNS, write_config

DATA = {"source": "x.csv", "columns": RETAIL_COLUMNS}


def _load(folder: Path, **output) -> object:
    folder.mkdir(parents=True, exist_ok=True)
    return load_config(write_config(folder, DATA, output=output))


@pytest.mark.parametrize(
    "root", ["/", "/etc", "/etc/segment", "/usr/share/out", "/var/lib/x", "/proc/self", "/tmp/../etc", "/home"]
)
def test_system_folders_and_the_filesystem_root_are_refused(tmp_path, root):
    with pytest.raises(ConfigError, match="output.root.*not allowed"):
        _load(tmp_path / "p" / "configs", root=root)


@pytest.mark.parametrize("root", ["../../..", "../../../../../../..", "../../elsewhere"])
def test_a_root_that_climbs_out_of_the_project_is_refused(tmp_path, root):
    with pytest.raises(ConfigError, match="outside the project folder|not allowed"):
        _load(tmp_path / "p" / "configs", root=root)


def test_a_root_inside_the_project_is_accepted_and_resolved(tmp_path):
    (tmp_path / "p" / "pyproject.toml").parent.mkdir(parents=True)
    (tmp_path / "p" / "pyproject.toml").write_text("")
    cfg = _load(tmp_path / "p" / "configs" / "deep", root="../../output/mystore")  # the README's layout
    assert cfg.output.root == str(tmp_path / "p" / "output" / "mystore")


def test_a_symlinked_root_that_escapes_is_refused_before_any_io(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    project = tmp_path / "p" / "q"
    project.mkdir(parents=True)
    (project / "output").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the project folder"):
        _load(project / "configs", root="../output")
    assert list(outside.iterdir()) == []
    (project / "etc").symlink_to("/etc")
    with pytest.raises(ConfigError, match="system folder /etc"):
        _load(project / "configs", root="../etc/segment")


def test_an_absolute_root_elsewhere_needs_the_allow_list(tmp_path):
    elsewhere = tmp_path / "srv" / "segment"
    with pytest.raises(ConfigError, match="allowed_roots"):
        _load(tmp_path / "p" / "configs", root=str(elsewhere / "out"))
    cfg = _load(tmp_path / "p" / "configs", root=str(elsewhere / "out"), allowed_roots=[str(elsewhere)])
    assert cfg.output.root == str(elsewhere / "out")
    with pytest.raises(ConfigError, match="allowed root.*system folder"):
        _load(tmp_path / "p" / "configs", root="/etc/x", allowed_roots=["/etc"])
    with pytest.raises(ConfigError, match="absolute"):
        _load(tmp_path / "p" / "configs", allowed_roots=["relative/folder"])


@pytest.mark.parametrize("summary", ["segment_table", "SEGMENT_TABLE"])
def test_the_summary_table_must_differ_from_the_segment_table(tmp_path, summary):
    with pytest.raises(ConfigError, match="summary_table must differ"):
        _load(tmp_path / "p" / "configs", table="segment_table", summary_table=summary)


def test_a_root_with_a_question_mark_keeps_the_database_inside_it(tmp_path):
    root = tmp_path / "odd?name=x#frag %20"
    root.mkdir()
    url = sqlite_url(root / "segments.db")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (a INTEGER)"))
    engine.dispose()
    assert (root / "segments.db").exists()
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # nothing created beside it (e.g. `odd`)


def test_a_relative_tracking_store_in_a_folder_with_a_question_mark_stays_there(tmp_path):
    folder = tmp_path / "a?b" / "configs"
    cfg = _load(folder)
    assert sa.make_url(cfg.tracking.uri).database == str(folder / "mlflow.db")
