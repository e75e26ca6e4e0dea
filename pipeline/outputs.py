"""Write the scoring outputs so that readers only ever see a complete previous or a complete new state.

One commit for all outputs of a score date (`publish_score`, `Publication`): the Parquet partitions, the
report and the export folder are staged under hidden names beside their final places, the database rows
are written in an open transaction, everything is checked, then the database commits and the files are
renamed in. A journal written before anything is staged lets the next run finish (database committed) or
undo (not committed) a publication a crash interrupted; the database itself says which, through a row
of `segment_publications` written in the same transaction. See docs/scoring.md for the order and why.

- Renames are atomic on POSIX; pyarrow's dataset discovery ignores names starting with "." or "_".
- Table and schema names are validated identifiers, quoted by SQLAlchemy; database errors are reported
  without their SQL parameters.
- A lock file per output root and date serialises concurrent runs.
- Every path stays under the output root, and no output is written or deleted through a symbolic link.
- CSV exports neutralise spreadsheet formulas in text cells.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from rich.markup import escape

from segment.config import OutputConfig
from segment.errors import InputError, UserError
from segment.pipeline.progress import console
from segment.pipeline.safe_input import redact
from segment.pipeline.safe_paths import sqlite_url
from segment.schema import CUSTOMER_ID, EXPORT_COLUMNS, SCHEME_COLUMNS, SCORE_DATE

PAUSE_ENV = "SEGMENT_TEST_PAUSE_BEFORE_SWAP"  # test hook: seconds to wait with new outputs staged


def _pause_before_swap() -> None:
    """Let a test kill the process at the worst moment: new outputs written, not yet swapped in."""
    seconds = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if seconds:
        Path(os.environ.get(PAUSE_ENV + "_MARKER", os.devnull)).write_text("staged")
        time.sleep(seconds)


def inside(root: Path, *parts: str) -> Path:
    """root/parts..., refusing any result that resolves outside root (`..`, absolute parts, symlinks)."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise InputError(f"output path {path} would escape the output root {base}")
    return path


def slug(name: str) -> str:
    """A file-name-safe form of a segment name ("Can't Lose Them" -> "cant_lose_them")."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")
    return text or "segment"


@contextlib.contextmanager
def score_lock(root: Path, score_date: date, timeout: float) -> Iterator[None]:
    """Hold the lock of (root, date); a second run waits up to `timeout` seconds, then fails clearly."""
    root.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(inside(root, f".score-{score_date.isoformat()}.lock")))
    try:
        with lock.acquire(timeout=timeout):
            yield
    except filelock.Timeout:
        raise UserError(
            f"another score run is writing {score_date} under {root}; waited {timeout:.0f} s "
            "(scoring.lock_timeout_seconds)"
        ) from None


def partition_path(root: Path, score_date: date) -> Path:
    """Folder of one score date in a Hive-partitioned dataset."""
    return root / f"score_date={score_date.isoformat()}"


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write `path` via a temporary sibling and a rename: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write a text file (a report) atomically; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_export_files(
    table: pd.DataFrame,
    attributes: pd.DataFrame | None,
    folder: Path,
    lists: dict[str, pd.DataFrame] | None = None,
) -> int:
    """One CSV per segment of each scheme in folder/<scheme>/<segment>.csv; return the number of files.

    Columns: the export columns `table` has, and only the attributes the config lists; rows keep `table`'s
    order (`exports.export_rows`: most valuable first). `lists` are further CSVs (file name -> rows) beside
    them. Text cells that a spreadsheet would run as a formula are neutralised (`neutralise_formulas`).
    """

    def with_attributes(frame: pd.DataFrame) -> pd.DataFrame:
        if attributes is not None and len(attributes.columns) > 1:
            frame = frame.merge(attributes, on=CUSTOMER_ID, how="left")  # keeps the frame's row order
        return neutralise_formulas(frame)

    rows = with_attributes(table[[c for c in EXPORT_COLUMNS if c in table]])
    files = 0
    for scheme in SCHEME_COLUMNS:
        for name, part in rows.groupby(scheme, sort=True):
            path = inside(folder, scheme, f"{slug(str(name))}.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            part.to_csv(path, index=False)
            files += 1
    for file_name, extra in (lists or {}).items():
        path = inside(folder, file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with_attributes(extra).to_csv(path, index=False)
        files += 1
    return files


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells starting with = + - @ tab or CR with `'`, so a spreadsheet shows them as text.

    Ids and attributes come from the input data; `=HYPERLINK(...)` in a customer id must not run when
    marketing opens the export (OWASP "CSV injection"). Line breaks inside a text cell become spaces: the
    CSV writer does not quote a bare CR, which would split the row. Numbers are left alone.
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            is_text = text.map(lambda v: isinstance(v, str))
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
            breaks = text.map(lambda v: isinstance(v, str) and ("\r" in v or "\n" in v))
            if risky.any() or breaks.any():
                fixed = text.where(~risky, "'" + text.astype(str))
                fixed = fixed.where(~(breaks & is_text), fixed.astype(str).str.replace(r"[\r\n]", " ", regex=True))
                out[col] = fixed
    return out


def write_partition(df: pd.DataFrame, root: Path, score_date: date) -> Path:
    """Replace the partition of `score_date` whole (score_date itself lives in the folder name)."""
    folder = partition_path(root, score_date)
    path = folder / "part-0.parquet"
    for stale in folder.glob(f".{path.name}.*.tmp"):  # left by a killed run; we hold the date's lock
        stale.unlink(missing_ok=True)
    table = pa.Table.from_pandas(df.drop(columns=SCORE_DATE), preserve_index=False)
    atomic_write_parquet(table, path)
    for other in folder.iterdir():  # anything else visible in the partition is not this run's: remove it
        if other.name != path.name and not other.name.startswith((".", "_")) and other.is_file():
            other.unlink()
    return path


def _repair(final: Path) -> None:
    """Finish or undo a swap that a crash interrupted, and drop stale staging folders."""
    for trash in final.parent.glob(f".trash-{final.name}-*"):
        if final.exists():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.rename(final)  # the crash came between the two renames: put the previous state back
    for stale in final.parent.glob(f".staging-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def write_database(frames: dict[str, pd.DataFrame], url: str, score_date: date, schema: str | None = None) -> None:
    """For each table name -> rows: delete the date's rows and insert the new ones, all in one transaction."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            write_rows(conn, frames, score_date, schema)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as e:  # no SQL parameters (ids, scores) shown
        raise PublishError(f"the database write failed: {database_error(e)}") from None
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------------------
# One commit for all outputs of a score run
# ---------------------------------------------------------------------------------------------------------


class PublishError(Exception):
    """Outputs could not be published; nothing visible changed (exit code 1). The message carries no data."""


PUBLICATIONS_TABLE = "segment_publications"  # one row per published score run, written in its transaction
DATABASE_FILE = "segments.db"


def database_url(output: OutputConfig) -> str:
    """The configured URL, or the SQLite file `segments.db` in the output root (built by SQLAlchemy)."""
    return output.database_url or sqlite_url(Path(output.root) / DATABASE_FILE)


def create_engine(url: str) -> sa.Engine:
    """An engine whose transactions start at BEGIN, DDL included.

    pysqlite would otherwise run DDL (a new table) outside the transaction and take the write lock only at
    the first insert.
    """
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_implicit(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: a locked database fails before commit

    return engine


def database_error(e: BaseException) -> str:
    """A database error without its SQL parameters or quoted values (customer ids, scores)."""
    cause = e.__cause__ if isinstance(e, pd.errors.DatabaseError) and e.__cause__ is not None else e  # pandas wraps
    orig = getattr(cause, "orig", None)
    return f"{type(orig or cause).__name__}: {redact(str(orig or cause))}"


def write_rows(conn: sa.Connection, frames: dict[str, pd.DataFrame], score_date: date, schema: str | None) -> None:
    """In the open transaction of `conn`: delete the date's rows of each table and insert the new ones."""
    for name, df in frames.items():
        if sa.inspect(conn).has_table(name, schema=schema):
            t = sa.Table(name, sa.MetaData(schema=schema), autoload_with=conn)
            missing = [c for c in df.columns if c not in t.c]
            if missing:
                raise PublishError(
                    f"database table {name!r} lacks column(s) {missing}: it was created by an older version; "
                    "migrate it (ALTER TABLE ... ADD COLUMN) or point output.table elsewhere"
                )
            conn.execute(t.delete().where(t.c.score_date == score_date))
        df.to_sql(
            name,
            conn,
            schema=schema,
            if_exists="append",
            index=False,
            chunksize=10_000,
            dtype={SCORE_DATE: sa.Date()},
        )


def _publications(schema: str | None) -> sa.Table:
    return sa.Table(
        PUBLICATIONS_TABLE,
        sa.MetaData(schema=schema),
        sa.Column("publication_id", sa.String(32), primary_key=True),
        sa.Column("score_date", sa.Date, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=False),
    )


def refuse_symlinks(root: Path, *parts: str) -> Path:
    """root/parts, refusing it if the path or any folder on the way below root is a symbolic link.

    Checked with lstat, without following links: a linked partition folder would make the swap delete files
    elsewhere, a linked `segments.db` would write another database. Nothing is written or deleted before.
    """
    base = Path(root).resolve()
    path = base
    for part in parts:
        if part in ("", ".", "..") or "/" in part:
            raise InputError(f"output path part {part!r} would escape the output root {base}")
        path = path / part
        if path.is_symlink():
            raise PublishError(f"{path} is a symbolic link: outputs are never written through links (remove it)")
    return path


def previous_partition(root: Path, score_date: date) -> tuple[date, pd.DataFrame] | None:
    """The latest readable partition before `score_date` (the comparison point of the score summary), if any.

    An unreadable one (damaged file) is reported and skipped: it must not block scoring a new date.
    """
    dates = sorted(
        (date.fromisoformat(d.name.split("=", 1)[1]) for d in root.glob("score_date=*") if not d.is_symlink()),
        reverse=True,
    )
    for when in dates:
        path = partition_path(root, when) / "part-0.parquet"
        if when >= score_date or not path.is_file():
            continue
        try:
            return when, pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as e:
            warn(f"partition {path} cannot be read ({type(e).__name__}); compared with an earlier one instead")
    return None


def warn(message: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


@dataclass
class PublishedOutputs:
    """Where a score run's outputs went (all visible together, or none)."""

    score_date: date
    publication_id: str
    parquet: Path
    summary_parquet: Path
    database_url: str
    exports: Path | None
    report: Path | None
    files: int = 0


@dataclass
class _Journal:
    """What a publication will rename, written before anything is staged: the next run finishes or undoes it."""

    path: Path
    publication_id: str
    score_date: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (staged file, final file)
    folders: list[tuple[str, str]] = field(default_factory=list)  # (staged folder, final folder)
    database: str | None = None  # URL of the database whose publications table says whether it committed
    schema: str | None = None

    def save(self) -> None:
        state = {k: v for k, v in asdict(self).items() if k != "path"}
        write_text(self.path, json.dumps(state, indent=1))

    @classmethod
    def load(cls, path: Path) -> _Journal:
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


def _roll_forward(journal: _Journal) -> None:
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


def _roll_back(journal: _Journal) -> None:
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


def _committed(journal: _Journal) -> bool | None:
    """Whether the journal's database transaction committed (None: the database cannot be asked now)."""
    if journal.database is None:
        return True  # no database part: the renames are the commit; staged files are complete
    engine = create_engine(journal.database)
    try:
        with engine.connect() as conn:
            table = _publications(journal.schema)
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
                    journal = _Journal.load(path)
                except (OSError, ValueError, KeyError):
                    warn(f"publication journal {path} is unreadable; left in place")
                    continue
                committed = _committed(journal)
                if committed is None:
                    warn(f"publication of {when} was interrupted and its database cannot be reached: left as is")
                    continue
                (_roll_forward if committed else _roll_back)(journal)
                done.append(f"{when}: {'finished' if committed else 'undone'}")
                warn(f"an interrupted publication of {when} was {'finished' if committed else 'undone'}")
        except filelock.Timeout:
            continue
    return done


class Publication:
    """Stage every output of one score date, check it, then publish all of it or nothing.

    Use as a context manager under the date's lock (`publish_score` does): `stage_*` writes hidden files
    and the database rows in an open transaction; leaving the block without an error calls `commit`, an
    error calls `abort`. Order of the commit (docs/scoring.md): journal -> check -> database COMMIT ->
    renames -> journal removed. A crash before the database commit leaves only hidden staging (undone by the
    next run); a crash after it leaves the database new and some files old until the next run of any date
    finishes the renames from the journal (the staged files are complete and fsynced by then).
    """

    def __init__(self, output: OutputConfig, score_date: date) -> None:
        self.output, self.score_date = output, score_date
        self.root = Path(output.root).resolve()
        self.id = uuid.uuid4().hex
        self.journal = _Journal(self.root / f".publish-{score_date.isoformat()}.json", self.id, score_date.isoformat())
        self._expected: dict[str, int] = {}  # staged file -> rows it must hold
        self._engine: sa.Engine | None = None
        self._conn: sa.Connection | None = None
        self._txn: sa.RootTransaction | None = None
        self._db_rows: dict[str, int] = {}
        self.published: PublishedOutputs | None = None
        self._partitions: dict[str, Path] = {}
        self._exports: Path | None = None
        self._report: Path | None = None

    # -- paths -------------------------------------------------------------------------------------------
    def _final(self, *parts: str) -> Path:
        return refuse_symlinks(self.root, *parts)

    def check_paths(self, *, exports: bool, database: bool) -> None:
        """Refuse symlinked output folders or files before anything is written or deleted."""
        d = f"score_date={self.score_date.isoformat()}"
        for dataset in ("segment_table", "segment_summary"):
            self._final(dataset, d, "part-0.parquet")
        if exports:
            self._final("exports", d)
        self._final("reports", f"score-{self.score_date}.html")
        if database and not self.output.database_url:
            self._final(DATABASE_FILE)
            for suffix in ("-journal", "-wal", "-shm"):
                self._final(DATABASE_FILE + suffix)

    # -- staging -----------------------------------------------------------------------------------------
    def __enter__(self) -> Publication:
        self.root.mkdir(parents=True, exist_ok=True)
        self.journal.save()  # first: whatever is staged from here on is listed for the next run to undo
        return self

    def _stage_file(self, final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = final.with_name(f".{final.name}.{self.id}.tmp")
        self.journal.files.append((str(staged), str(final)))
        self.journal.save()
        return staged

    def stage_partition(self, dataset: str, df: pd.DataFrame) -> Path:
        """Write the date's partition of `dataset` to a hidden file beside its final place."""
        final = self._final(dataset, f"score_date={self.score_date.isoformat()}", "part-0.parquet")
        staged = self._stage_file(final)
        table = pa.Table.from_pandas(df.drop(columns=SCORE_DATE), preserve_index=False)
        pq.write_table(table, staged)
        _fsync(staged)
        self._expected[str(staged)] = len(df)
        self._partitions[dataset] = final
        return final

    def stage_text(self, text: str, *parts: str) -> Path:
        """Write a text file (a report) to a hidden file beside its final place."""
        final = self._final(*parts)
        staged = self._stage_file(final)
        staged.write_text(text, encoding="utf-8")
        _fsync(staged)
        self._report = final
        return final

    def stage_exports(
        self, table: pd.DataFrame, attributes: pd.DataFrame | None, lists: dict[str, pd.DataFrame] | None = None
    ) -> Path:
        """Build the date's export folder in a hidden staging folder beside it."""
        self._exports = self.stage_folder(
            lambda staging: write_export_files(table, attributes, staging, lists),
            "exports",
            f"score_date={self.score_date.isoformat()}",
        )
        return self._exports

    def stage_folder(self, write: Callable[[Path], object], *parts: str) -> Path:
        """Build the folder root/parts whole in a hidden staging folder beside it (`write(staging)` fills it)."""
        final = self._final(*parts)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".staging-{final.name}-{self.id}"
        self.journal.folders.append((str(staging), str(final)))
        self.journal.save()
        staging.mkdir()
        write(staging)
        return final

    def previous(self) -> tuple[date, pd.DataFrame] | None:
        """The latest readable segment-table partition before this date (stable: we hold the date's lock)."""
        return previous_partition(self.root / "segment_table", self.score_date)

    def stage_rows(self, frames: dict[str, pd.DataFrame]) -> None:
        """Open the database transaction and write the date's rows and this publication's marker; no commit."""
        _pause_before_swap()  # test hook: everything else is staged; the transaction opens after it, held briefly
        url = database_url(self.output)
        self.journal.database, self.journal.schema = url, self.output.db_schema
        self.journal.save()
        schema = self.output.db_schema
        try:
            self._engine = create_engine(url)
            self._conn = self._engine.connect()
            self._txn = self._conn.begin()
            write_rows(self._conn, frames, self.score_date, schema)
            marker = _publications(schema)
            marker.create(self._conn, checkfirst=True)
            self._conn.execute(
                marker.insert().values(
                    publication_id=self.id,
                    score_date=self.score_date,
                    published_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )
        except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as e:  # no SQL parameters (ids, scores) shown
            raise PublishError(f"the database write failed, nothing was published: {database_error(e)}") from None
        self._db_rows = {name: len(df) for name, df in frames.items()}

    # -- checks and commit -------------------------------------------------------------------------------
    def check(self) -> None:
        """Every staged output is complete: Parquet row counts, the export folder, the database rows."""
        for staged, rows in self._expected.items():
            if pq.read_metadata(staged).num_rows != rows:
                raise PublishError(f"staged file {staged} does not hold the {rows} rows written")
        for staged, _ in self.journal.folders:
            if not Path(staged).is_dir():
                raise PublishError(f"staged folder {staged} is missing")
        if self._conn is not None:
            schema = self.output.db_schema
            for name, rows in self._db_rows.items():
                t = sa.Table(name, sa.MetaData(schema=schema), autoload_with=self._conn)
                got = self._conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(t.c.score_date == self.score_date)
                ).scalar()
                if got != rows:
                    raise PublishError(f"database table {name!r} holds {got} rows of {self.score_date}, not {rows}")

    def commit(self) -> PublishedOutputs:
        """Check, commit the database transaction, rename the files in, drop the journal."""
        self.check()
        if self._txn is not None:
            try:
                self._txn.commit()
            except sa.exc.SQLAlchemyError as e:
                raise PublishError(f"the database commit failed, nothing was published: {database_error(e)}") from None
            self._close()
        _roll_forward(self.journal)  # from here on the outputs are published (a crash: the next run finishes)
        url = database_url(self.output)
        self.published = PublishedOutputs(
            self.score_date,
            self.id,
            self._partitions.get("segment_table", Path()),
            self._partitions.get("segment_summary", Path()),
            url,
            self._exports,
            self._report,
            len(self.journal.files) + len(self.journal.folders),
        )
        return self.published

    def abort(self) -> None:
        """Roll the database back and remove everything staged: the visible outputs never changed."""
        if self._txn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._txn.rollback()
        self._close()
        _roll_back(self.journal)

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()
        if self._engine is not None:
            self._engine.dispose()
        self._conn = self._engine = self._txn = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.commit()
        except BaseException:
            if self._txn is not None:  # the database did not commit: undo everything
                self.abort()
            raise


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def publication(output: OutputConfig, score_date: date, lock_timeout: float) -> Iterator[Publication]:
    """The one place a score date is published: lock, repair, path checks, then a `Publication` to stage into.

    Under the date's lock: interrupted publications are finished or undone, the standard paths are checked
    (no symlinks), then the caller stages every output; leaving the block without an error checks,
    commits the database and renames the files in; an error leaves every visible output as it was.
    """
    root = Path(output.root)
    with score_lock(root, score_date, lock_timeout):
        repair(root.resolve(), score_date)
        with Publication(output, score_date) as pub:
            pub.check_paths(exports=output.exports, database=True)
            yield pub


def publish_score(
    output: OutputConfig,
    score_date: date,
    table: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    attributes: pd.DataFrame | None,
    report: Callable[[tuple[date, pd.DataFrame] | None], str],
    lock_timeout: float,
) -> PublishedOutputs:
    """The segment table, its summary, the exports, the report and the database rows in one commit."""
    with publication(output, score_date, lock_timeout) as pub:
        previous = pub.previous()
        pub.stage_partition("segment_table", table)
        pub.stage_partition("segment_summary", summary)
        if output.exports:
            pub.stage_exports(table, attributes)
        pub.stage_text(report(previous), "reports", f"score-{score_date}.html")
        pub.stage_rows({output.table: table, output.summary_table: summary})
    return pub.published


@contextlib.contextmanager
def best_effort(what: str) -> Iterator[None]:
    """Run a step whose failure must not fail a run whose outputs are already published (MLflow logging)."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - reported, not raised: the outputs are published
        warn(
            f"{what} failed after the outputs were published ({type(e).__name__}: {redact(str(e))}); the outputs stand"
        )
