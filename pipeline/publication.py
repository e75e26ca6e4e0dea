"""One commit for all outputs of a score date: stage everything, check it, then publish all or nothing.

The Parquet partitions, the report and the export folders are staged under hidden names beside their
final places, the database rows are written in an open transaction, everything is checked, then the
database commits and the files are renamed in (`journal.py` finishes or undoes an interrupted one).
See docs/scoring.md for the order and why.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from segment.config import OutputConfig
from segment.pipeline.database import (
    DATABASE_FILE,
    create_engine,
    database_error,
    database_url,
    publications_table,
    write_rows,
)
from segment.pipeline.journal import Journal, repair, roll_back, roll_forward
from segment.pipeline.outputs import (
    PublishError,
    fsync,
    pause_before_swap,
    previous_partition,
    refuse_symlinks,
    score_lock,
    warn,
    write_export_files,
)
from segment.pipeline.safe_input import redact
from segment.schema import SCORE_DATE


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
        self.journal = Journal(self.root / f".publish-{score_date.isoformat()}.json", self.id, score_date.isoformat())
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
        fsync(staged)
        self._expected[str(staged)] = len(df)
        self._partitions[dataset] = final
        return final

    def stage_text(self, text: str, *parts: str) -> Path:
        """Write a text file (a report) to a hidden file beside its final place."""
        final = self._final(*parts)
        staged = self._stage_file(final)
        staged.write_text(text, encoding="utf-8")
        fsync(staged)
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
        pause_before_swap()  # test hook: everything else is staged; the transaction opens after it, held briefly
        url = database_url(self.output)
        self.journal.database, self.journal.schema = url, self.output.db_schema
        self.journal.save()
        schema = self.output.db_schema
        try:
            self._engine = create_engine(url)
            self._conn = self._engine.connect()
            self._txn = self._conn.begin()
            write_rows(self._conn, frames, self.score_date, schema)
            marker = publications_table(schema)
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
        roll_forward(self.journal)  # from here on the outputs are published (a crash: the next run finishes)
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
        roll_back(self.journal)

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
