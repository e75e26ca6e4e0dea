"""One writer or many readers of a store file, across processes: `flock` on a lock file beside it.

A run reads the store under a shared lock for as long as it uses it (a training may read it for
minutes) and updates it under an exclusive one. DuckDB itself refuses a second process opening the file
for writing while a reader has it open; this lock makes that second run wait instead of fail. Locks of one
process are counted too: a run cannot wait for itself, so it is told to clean in memory instead.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter
from pathlib import Path

POLL_SECONDS = 0.2
_readers: Counter[str] = Counter()  # shared locks held by this process, per lock file


class StoreLock:
    """A shared or exclusive `flock` on `path`, taken with a timeout and released explicitly."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._fd: int | None = None
        self._shared = False

    def acquire(self, *, shared: bool, timeout: float) -> bool:
        """Take the lock; False when another process still holds a conflicting one after `timeout` seconds."""
        self.release()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(POLL_SECONDS)
        self._fd, self._shared = fd, shared
        if shared:
            _readers[self.path] += 1
        return True

    def release(self) -> None:
        """Drop the lock (closing the file releases it); a no-op when not held."""
        if self._fd is None:
            return
        if self._shared:
            _readers[self.path] -= 1
        os.close(self._fd)
        self._fd = None

    def read_here(self) -> bool:
        """Whether this process already reads the store (an exclusive lock would then wait for itself)."""
        return _readers[self.path] > (1 if self._fd is not None and self._shared else 0)
