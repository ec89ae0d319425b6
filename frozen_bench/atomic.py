"""The one atomic write, and the one file lock.

A file appears under its name complete, or not at all: everything that must survive a kill
mid-write (run records, checkpoints, saved models, dataset caches, the compiled kernels) is
written to a temporary file in the destination's folder, fsynced and renamed over the
destination. The temporary name is ``.<name>.<random>.tmp`` so a folder's half-written leftovers
are easy to recognize (and ``run.execute`` sweeps a run folder's ``.*.tmp`` away).

``locked`` makes processes take turns on one thing (all.csv, a run folder, a dataset cache): an
exclusive flock, released when the block ends or the process dies.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:  # read without changing it (os.umask sets it)
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for the caller (or a tool it runs) to write; on a
    clean exit the file is fsynced and renamed onto ``path``, on an error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600; publish it like a plain open() would
    except (AttributeError, OSError):
        pass
    finally:
        os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` that publishes the file only when the block finishes without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def probe_writable(folder: str | Path) -> None:
    """Make ``folder`` and create and remove a file in it: raises OSError where nothing could be
    written there (under a file, in /proc, read-only), before any work whose output would be lost."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
    os.close(fd)
    os.unlink(probe)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def locked(lock_path: str | Path, wait: bool = True, optional: bool = False) -> Iterator[bool]:
    """Hold an exclusive advisory lock (an flock on ``lock_path``, made if missing) for the block;
    it ends with the block, or with the process even on SIGKILL. Yields True once it is held.
    ``wait=False``: yields False at once where another process holds it. ``optional``: where the
    lock file cannot be made (a read-only folder), the block runs unlocked (yields False) instead
    of raising OSError."""
    import fcntl

    lock_path = Path(lock_path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        f = open(lock_path, "a")
    except OSError:
        if not optional:
            raise
        yield False
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
