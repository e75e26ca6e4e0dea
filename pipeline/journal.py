"""The publication journal: what a publication will rename, written before anything is staged.

The next run reads it and finishes the publication (its database transaction committed: a row of
`segment_publications` says so) or undoes it (not committed). See docs/scoring.md for the order.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import filelock
import sqlalchemy as sa

from segment.pipeline.database import PUBLICATIONS_TABLE, create_engine, publications_table
from segment.pipeline.outputs import warn, write_text


@dataclass
class Journal:
    """What a publication will rename, written before anything is staged: the next run finishes or undoes it."""

    path: Path
    publication_id: str
    score_date: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (staged file, final file)
    folders: list[tuple[str, str]] = field(default_factory=list)  # (staged folder, final folder)
    database: str | None = None  # URL of the database whose publications table says whether it committed
    schema: str | None = None

    def save(self) -> None:
        """Write the journal (atomically) beside the outputs."""
        state = {k: v for k, v in asdict(self).items() if k != "path"}
        write_text(self.path, json.dumps(state, indent=1))

    @classmethod
    def load(cls, path: Path) -> Journal:
        """Read a journal a crashed run left."""
        state = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            path=path,
            publication_id=state["publication_id"],
            score_date=state["score_date"],
            files=[tuple(f) for f in state["files"]],
            folders=[tuple(f) for f in state["folders"]],
            database=state.get("database"),
            schema=state.get("schema"),
        )


def roll_forward(journal: Journal) -> None:
    """Rename every staged output into place (idempotent: a step already done is skipped)."""
    for staged, final in map(lambda p: (Path(p[0]), Path(p[1])), journal.files):
        if staged.exists():
            os.replace(staged, final)
    for staged, final in map(lambda p: (Path(p[0]), Path(p[1])), journal.folders):
        if staged.exists():
            trash = final.parent / f".trash-{final.name}-{journal.publication_id}"
            if final.exists():
                final.rename(trash)
            staged.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
    for _, final in journal.files:  # anything else visible in a partition is not this run's: remove it
        folder = Path(final).parent
        if folder.name.startswith("score_date="):
            for other in folder.iterdir():
                if other.name != Path(final).name and not other.name.startswith((".", "_")) and other.is_file():
                    other.unlink()
    journal.path.unlink(missing_ok=True)


def roll_back(journal: Journal) -> None:
    """Remove everything a publication staged; the visible outputs were never touched."""
    for staged, final in journal.files:
        Path(staged).unlink(missing_ok=True)
        folder = Path(final).parent
        with contextlib.suppress(OSError):  # a partition folder this publication created, still empty
            if folder.name.startswith("score_date=") and not any(folder.iterdir()):
                folder.rmdir()
    for staged, _ in journal.folders:
        shutil.rmtree(staged, ignore_errors=True)
    journal.path.unlink(missing_ok=True)


def was_committed(journal: Journal) -> bool | None:
    """Whether the journal's database transaction committed (None: the database cannot be asked now)."""
    if journal.database is None:
        return True  # no database part: the renames are the commit; staged files are complete
    engine = create_engine(journal.database)
    try:
        with engine.connect() as conn:
            table = publications_table(journal.schema)
            if not sa.inspect(conn).has_table(PUBLICATIONS_TABLE, schema=journal.schema):
                return False
            row = conn.execute(
                sa.select(table.c.publication_id).where(table.c.publication_id == journal.publication_id)
            ).first()
            return row is not None
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def repair(root: Path, score_date: date | None = None) -> list[str]:
    """Finish (database committed) or undo (not committed) publications a crash interrupted; return what was done.

    The caller holds the lock of `score_date`; journals of other dates are repaired only when their lock is
    free at once (a run of that date may be publishing right now).
    """
    done = []
    for path in sorted(Path(root).glob(".publish-*.json")):
        when = path.name[len(".publish-") : -len(".json")]
        own = score_date is not None and when == score_date.isoformat()
        lock = contextlib.nullcontext() if own else filelock.FileLock(str(Path(root) / f".score-{when}.lock"))
        try:
            with lock.acquire(timeout=0) if not own else lock:
                if not path.exists():
                    continue
                try:
                    journal = Journal.load(path)
                except (OSError, ValueError, KeyError):
                    warn(f"publication journal {path} is unreadable; left in place")
                    continue
                committed = was_committed(journal)
                if committed is None:
                    warn(f"publication of {when} was interrupted and its database cannot be reached: left as is")
                    continue
                (roll_forward if committed else roll_back)(journal)
                done.append(f"{when}: {'finished' if committed else 'undone'}")
                warn(f"an interrupted publication of {when} was {'finished' if committed else 'undone'}")
        except filelock.Timeout:
            continue
    return done
