"""User-facing errors: one clear message naming the file, the column and the problem.

The CLI prints these without a traceback and exits with code 2 (bad input or config);
anything else is a bug and exits with code 1.
"""

from __future__ import annotations

from collections.abc import Sequence


class UserError(Exception):
    """A problem the user can fix in their data or config (exit code 2)."""


class ConfigError(UserError):
    """The config file is missing, malformed, or names something that does not exist."""


class InputError(UserError):
    """The input data breaks the contract: says which file, which column, what, and shows examples."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        column: str | None = None,
        examples: Sequence[object] = (),
    ) -> None:
        self.problem, self.file, self.column = problem, file, column
        self.examples = list(examples)[:5]
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.column:
            where.append(f"column {self.column!r}")
        head = f"{', '.join(where)}: " if where else ""
        text = head + self.problem
        if self.examples:
            text += "\n  examples: " + "; ".join(repr(e) for e in self.examples)
        return text


class ModelRegistryError(UserError):
    """No champion model, or the registry cannot be reached."""
