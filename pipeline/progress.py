"""Stage lines and progress on stderr, so results on stdout stay machine-readable.

On a terminal a stage shows a spinner and long loops a bar with counts and an ETA (rich.progress); when
stderr is not a terminal (a scheduled log) a loop writes a plain line every `PLAIN_EVERY` seconds instead.
`--quiet` silences both; warnings are always printed.

`SEGMENT_STAGE_TIMES=FILE` appends one JSON line `{"stage": name, "seconds": s}` per finished stage to
FILE, with or without `--quiet`: a cheap stage breakdown for benchmarks (bench/performance.py), no parsing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False)
_state: dict = {"quiet": False, "status": None}
PLAIN_EVERY = 10.0  # seconds between plain progress lines
STAGE_TIMES_ENV = "SEGMENT_STAGE_TIMES"  # a file to append each stage's seconds to (JSON lines)

Advance = Callable[[int, int], None]  # (done, total): what features/ and models/ call, knowing nothing of this


def set_quiet(quiet: bool) -> None:
    """Silence stage lines and progress (warnings and errors are still printed)."""
    _state["quiet"] = quiet


def info(message: str) -> None:
    """One log line on stderr."""
    if not _state["quiet"]:
        console.print(message)


def warn(message: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    console.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Show a spinner while a stage runs and a line with its elapsed time when it ends."""
    start = time.perf_counter()
    if _state["quiet"]:
        yield
        _record_stage(name, time.perf_counter() - start)
        return
    with console.status(f"{name} ...") as status:
        _state["status"] = status
        try:
            yield
        finally:
            _state["status"] = None
    seconds = time.perf_counter() - start
    _record_stage(name, seconds)
    console.print(f"[green]✓[/green] {name} [dim]({seconds:.1f}s)[/dim]")


def _record_stage(name: str, seconds: float) -> None:
    """Append the finished stage to $SEGMENT_STAGE_TIMES when set (a stage that raised is not recorded)."""
    path = os.environ.get(STAGE_TIMES_ENV)
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"stage": name, "seconds": round(seconds, 3)}) + "\n")


def eta_line(label: str, done: int, total: int, elapsed: float) -> str:
    """`label: 5/17 (29%), 12 s elapsed, about 29 s left` (plain progress for logs)."""
    share = done / total if total else 1.0
    left = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
    return f"{label}: {done}/{total} ({share:.0%}), {elapsed:.0f} s elapsed{left}"


class Meter:
    """A callable (done, total) drawing a bar on a terminal or writing plain lines to a log."""

    def __init__(self, label: str, terminal: bool, every: float = PLAIN_EVERY) -> None:
        self.label, self.terminal, self.every = label, terminal, every
        self.start = time.perf_counter()
        self.last_line = self.start
        self.bar: Progress | None = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        """Record that `done` of `total` are finished."""
        if _state["quiet"]:
            return
        if self.terminal:
            if self.bar is None:
                if _state["status"] is not None:
                    _state["status"].stop()  # one live display at a time: the bar replaces the stage spinner
                self.bar = Progress(
                    TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True,
                )  # fmt: skip
                self.bar.start()
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=done, total=total)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.every or done == total:
            console.print(eta_line(self.label, done, total, now - self.start), soft_wrap=True)
            self.last_line = now

    def close(self) -> None:
        """Remove the bar and give the stage its spinner back."""
        if self.bar is not None:
            self.bar.stop()
            if _state["status"] is not None:
                _state["status"].start()


@contextlib.contextmanager
def meter(label: str) -> Iterator[Meter]:
    """A progress callback for one loop (search trials, k tried, scoring steps), closed on exit."""
    m = Meter(label, console.is_terminal)
    try:
        yield m
    finally:
        m.close()


def configure_logging(verbose: bool) -> None:
    """MLflow's and alembic's INFO lines drown the stage lines: shown only when verbose."""
    level = logging.INFO if verbose else logging.WARNING
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)
    if not verbose:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
