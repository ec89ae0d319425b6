"""Where datasets live: ``dataset.root``, else $FROZEN_BENCH_DATA, else a user cache folder."""

from __future__ import annotations

import contextlib

import os
from pathlib import Path

import torch


def data_root(root: str | None = None) -> Path:
    if root:
        return Path(root).expanduser()
    env = os.environ.get("FROZEN_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "frozen-bench" / "data"


def cache_dir(root: Path) -> Path:
    """Decoded tensors are cached here, next to the raw files."""
    return root / "frozen_bench_cache"


@contextlib.contextmanager
def cache_lock(cache: Path):
    """Held while a cache is built: parallel jobs of a sweep that miss the same cache take turns
    (an flock on ``<cache>.lock``), so one decodes and the others load what it wrote. Without a
    writable cache folder there is nothing to share, and no lock."""
    import fcntl

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        f = open(cache.with_name(cache.name + ".lock"), "a")
    except OSError:
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_cache(cache: Path, stamp) -> dict | None:
    """A decoded-tensor cache written with ``stamp`` (what its sources looked like), or None when
    it is absent, stale or unreadable: a corrupt cache is rebuilt, never fatal."""
    if not cache.exists():
        return None
    try:
        blob = torch.load(cache, weights_only=True)
    except Exception:
        return None
    return blob if isinstance(blob, dict) and blob.get("stamp") == stamp else None


def cached(cache: Path, stamp, build, what: str, log=print) -> dict:
    """The decoded tensors of ``cache`` if written with ``stamp``, else ``build()``'s (a dict) saved
    there with the stamp. Built under ``cache_lock``, so parallel jobs decode once; written to a temp
    file then renamed, so a reader never loads half a cache. A cache folder that cannot be written
    costs a re-decode next time, nothing else."""
    blob = load_cache(cache, stamp)
    if blob is not None:
        return blob
    with cache_lock(cache):  # a parallel job may be building it: wait, then use its cache
        blob = load_cache(cache, stamp)
        if blob is not None:
            return blob
        blob = {**build(), "stamp": stamp}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            torch.save(blob, tmp)
            tmp.replace(cache)
        except OSError as e:
            log(f"[frozen-bench] {what}: could not write the cache {cache} ({e}); continuing uncached")
    return blob


def shared_data_dir() -> Path:
    """Read-only real data next to a checkout (``<checkout>/../shared/data``), or $FROZEN_BENCH_SHARED_DATA.
    Used only as a fallback location to read from; nothing is ever written there."""
    env = os.environ.get("FROZEN_BENCH_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def first_existing(*candidates: Path | None) -> Path | None:
    for c in candidates:
        if c is not None and c.exists():
            return c
    return None
