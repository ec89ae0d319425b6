"""How many threads torch should use in this process.

A single run should use the cores it is allowed to (affinity mask, cgroup quota, Slurm
allocation), not ``os.cpu_count()`` of the whole host. Under a parallel launcher (the Hydra joblib
launcher runs one process per job) the cores are split between the workers: W workers x all cores
each would oversubscribe the machine and make every run slower.

Precedence in ``configure_threads``: explicit ``n`` > ``FROZEN_BENCH_THREADS`` > explicit
``workers`` > ``OMP_NUM_THREADS`` (set by joblib's loky backend in its workers to
cores // n_jobs, or by the user) > a joblib worker split by ``FROZEN_BENCH_WORKERS`` > all
available cores.
"""

from __future__ import annotations

import math
import multiprocessing
import os

import torch


def _positive_int(value) -> int | None:
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def _cgroup_quota() -> int | None:
    """CPU limit of a container (cgroup v2 ``cpu.max`` or v1 ``cfs_quota``), rounded up."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


def available_cores() -> int:
    """Cores this process may run on: the smallest of affinity mask, cgroup quota, Slurm."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    for limit in (_cgroup_quota(), _positive_int(os.environ.get("SLURM_CPUS_PER_TASK"))):
        if limit:
            n = min(n, limit)
    return max(1, n)


def in_joblib_worker() -> bool:
    """True inside a joblib/loky worker process (the Hydra joblib launcher uses loky)."""
    name = multiprocessing.current_process().name
    return "Loky" in name or "ForkPoolWorker" in name or "SpawnPoolWorker" in name


def configure_threads(n: int | None = None, workers: int | None = None) -> int:
    """Set ``torch.set_num_threads`` for this process and return the number set.

    ``n``: use exactly this many. ``workers``: this process is one of ``workers`` running at once
    on this machine (e.g. the launcher's n_jobs), so it gets ``cores // workers`` (at least 1).
    """
    cores = available_cores()
    chosen = _positive_int(n) if n is not None else None
    if chosen is None:
        chosen = _positive_int(os.environ.get("FROZEN_BENCH_THREADS"))
    if chosen is None and workers is not None and (w := _positive_int(workers)):
        chosen = max(1, cores // w)
    if chosen is None:
        chosen = _positive_int(os.environ.get("OMP_NUM_THREADS"))
    if chosen is None and in_joblib_worker():
        w = _positive_int(os.environ.get("FROZEN_BENCH_WORKERS")) or cores
        chosen = max(1, cores // w)
    if chosen is None:
        chosen = cores
    if torch.get_num_threads() != chosen:
        torch.set_num_threads(chosen)
    return chosen


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameter ids (malloc.h)
_malloc_tuned = False


def configure_malloc(keep_bytes: int = 1 << 30) -> bool:
    """Let glibc malloc keep and reuse freed blocks up to ``keep_bytes`` instead of returning each
    large tensor's memory to the OS (default: >= 128 kB blocks are mmap'ed and unmapped on free).

    Why: a CPU forward/backward pass allocates a fresh multi-MB tensor for every elementwise op;
    when each comes from a new mmap, every page faults on first touch, and under a hypervisor that
    can cost more than the op itself. PyTorch's docs recommend jemalloc/tcmalloc for the same
    reason; this is the no-install version. Costs: the process keeps its peak heap.
    Returns True if applied (glibc only; a no-op elsewhere). Idempotent.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return True
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, int(keep_bytes)) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, int(2 * keep_bytes) if 2 * keep_bytes < 2**31 else 2**31 - 1) == 1 and ok
    except (OSError, AttributeError):
        return False
    _malloc_tuned = ok
    return ok
