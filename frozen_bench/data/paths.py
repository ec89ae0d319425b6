"""Where datasets live: ``dataset.root``, else $FROZEN_BENCH_DATA, else a user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from frozen_bench.atomic import locked


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
    there with the stamp. Built under a lock on ``<cache>.lock`` (``atomic.locked``), so parallel jobs
    that miss the same cache take turns: one decodes, the others load what it wrote (without a
    writable cache folder there is nothing to share, and no lock). Written to a temp file then
    renamed, so a reader never loads half a cache. A cache folder that cannot be written
    costs a re-decode next time, nothing else."""
    blob = load_cache(cache, stamp)
    if blob is not None:
        return blob
    # a parallel job may be building it: wait, then use its cache
    with locked(cache.with_name(cache.name + ".lock"), optional=True):
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
