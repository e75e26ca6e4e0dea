"""Where outputs may go: the output root checked against the project and the allow-list, symlinks resolved.

`segment.config` checks what it can without I/O (never `/` or a system folder). Here, where the config file
is read, the root is resolved through symlinks and must lie inside the project folder or under one of
`output.allowed_roots`: `root: ../../..`, a symlink to `/etc` or a root that climbs out of the project are
refused before anything is read or written.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from segment.config import OutputConfig, unsafe_output_folder
from segment.errors import ConfigError

PROJECT_MARKERS = ("pyproject.toml", ".git")


def project_folder(config_dir: Path) -> Path:
    """The project a config belongs to: the nearest folder up holding pyproject.toml or .git.

    Without one, the config folder's parent (configs usually live in a `configs/` folder of the project).
    """
    config_dir = config_dir.resolve()
    for folder in (config_dir, *config_dir.parents):
        if any((folder / m).exists() for m in PROJECT_MARKERS):
            return folder
    return config_dir.parent


def check_output_root(output: OutputConfig, config_dir: Path) -> None:
    """Refuse an output root outside the project and the allow-list, or one a symlink moves elsewhere."""
    real = Path(output.root).resolve()  # follows every symlink on the way, existing or not
    why = unsafe_output_folder(str(real))
    if why:
        raise ConfigError(f"output.root {output.root} resolves to {real}: {why}")
    project = project_folder(config_dir)
    bases = [project, *(Path(a).resolve() for a in output.allowed_roots)]
    if not any(real.is_relative_to(b) for b in bases):
        raise ConfigError(
            f"output.root {output.root} (resolves to {real}) is outside the project folder {project}"
            + (f" and output.allowed_roots {output.allowed_roots}" if output.allowed_roots else "")
            + ": list its folder in output.allowed_roots to write there"
        )


def sqlite_url(path: Path | str) -> str:
    """A SQLite URL for a file path, built by SQLAlchemy: `?` or `#` in a folder name cannot move the file."""
    return sa.URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)
