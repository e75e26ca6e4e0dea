"""What every `segment` command shares: its options, date parsing, config loading and the stdout console.

Results go to stdout (`out`), progress and errors to stderr (`progress.console`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from segment.config import Config
from segment.pipeline.config_file import load_config
from segment.pipeline.progress import configure_logging, set_quiet

out = Console(highlight=False, soft_wrap=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config value: key.sub=value (repeatable).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also show MLflow's and alembic's own log lines.")]
RebuildOpt = Annotated[
    bool, typer.Option("--rebuild", help="Rebuild the store of clean lines from every source file (store.rebuild).")
]
DEFAULT_CONFIG = Path("configs/default.yaml")


def parse_date(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option as a date (a usage error naming the option otherwise)."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form", param_hint=option) from None


def load_cli_config(
    config: Path, overrides: list[str] | None, quiet: bool, verbose: bool = False, rebuild: bool = False
) -> Config:
    """The validated config, with stage lines and MLflow's own log lines set as the options ask.

    `rebuild` (`--rebuild`) is `--set store.rebuild=true`.
    """
    set_quiet(quiet)
    if rebuild:
        overrides = [*(overrides or []), "store.rebuild=true"]
    from segment.pipeline import tracking  # noqa: F401 - imports mlflow, which sets its loggers up: then quieten them

    configure_logging(verbose)
    return load_config(config, overrides or [])
