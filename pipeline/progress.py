"""Stage lines on stderr with elapsed time, so results on stdout stay machine-readable."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console

console = Console(stderr=True, highlight=False)
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence stage lines (errors are still printed by the CLI)."""
    _state["quiet"] = quiet


def info(message: str) -> None:
    """One log line on stderr."""
    if not _state["quiet"]:
        console.print(message)


def warn(message: str) -> None:
    """A warning on stderr, printed even with --quiet: a drift or data warning must never be silenced."""
    console.print(message)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Show a spinner while a stage runs and a line with its elapsed time when it ends."""
    start = time.perf_counter()
    if _state["quiet"]:
        yield
        return
    with console.status(f"{name} ..."):
        yield
    console.print(f"[green]✓[/green] {name} [dim]({time.perf_counter() - start:.1f}s)[/dim]")
