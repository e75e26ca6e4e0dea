"""Which source files the incremental store must read again: new, changed, removed, or only touched.

Pure bookkeeping, no SQL: a file is known by its path; (size, mtime_ns) equal to the stored ones means
unchanged and the file is not opened. A different size means changed. The same size with another
modification time is settled by a hash of the whole content: equal means only touched (its stored
modification time is updated, its lines are not read again).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import duckdb

from segment.config import DataConfig

# Bump when the cleaning rules, the orders or the store's tables change meaning: every store then rebuilds.
STORE_VERSION = 1
BLOCK = 1 << 20


def fingerprint(cfg: DataConfig) -> str:
    """A hash of everything that decides how a line is cleaned, so a store cleaned under another one rebuilds.

    The data config without the list of sources (a new file is an append, not a new config), the store's
    format version, our package version and DuckDB's (the stored line hashes are DuckDB's `hash`, which a
    new DuckDB may compute differently).
    """
    try:
        ours = metadata.version("segment-pipeline")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        ours = "unknown"
    what = {
        "data": cfg.model_dump(mode="json", exclude={"source", "sql"}),
        "store": STORE_VERSION,
        "segment": ours,
        "duckdb": duckdb.__version__,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def content_hash(path: str | Path) -> str:
    """blake2b of the file's bytes (1 MiB blocks): the whole content, so an edit anywhere is seen."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Listed:
    """A source file as listed now: path, size and modification time (one `stat`, no read)."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Listed:
        """The file as it is now."""
        st = os.stat(path)
        return cls(str(path), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class StoredFile:
    """A row of the store's `files` table."""

    file_id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str


@dataclass
class Changes:
    """What a run must do to the store: read `new`, remove `gone` file ids, update `touched` mtimes."""

    new: list[Listed] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    touched: list[tuple[int, int]] = field(default_factory=list)  # (file_id, new mtime_ns)

    @property
    def empty(self) -> bool:
        """Nothing to do: the store is up to date."""
        return not (self.new or self.gone or self.touched)


def changes(listed: list[Listed], stored: list[StoredFile], hash_of: Callable[[str], str] = content_hash) -> Changes:
    """Compare the listed sources with the stored files (`hash_of` is called only for same-size, new-mtime files)."""
    known = {s.path: s for s in stored}
    out = Changes()
    for f in listed:
        s = known.pop(f.path, None)
        if s is None:
            out.new.append(f)
        elif (f.size, f.mtime_ns) == (s.size, s.mtime_ns):
            continue
        elif f.size == s.size and hash_of(f.path) == s.content_hash:
            out.touched.append((s.file_id, f.mtime_ns))
        else:
            out.gone.append(s.file_id)
            out.new.append(f)
    out.gone.extend(s.file_id for s in known.values())  # listed no more: removed from the sources
    return out
