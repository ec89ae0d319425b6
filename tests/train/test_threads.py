import pytest
import torch

from frozen_bench.train import threads


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    for var in ("FROZEN_BENCH_THREADS", "OMP_NUM_THREADS", "FROZEN_BENCH_WORKERS", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_defaults_to_available_cores():
    assert threads.configure_threads() == threads.available_cores() == torch.get_num_threads()


def test_explicit_and_env_override():
    assert threads.configure_threads(1) == 1 and torch.get_num_threads() == 1


def test_env_var(monkeypatch):
    monkeypatch.setenv("FROZEN_BENCH_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the project's own variable wins
    assert threads.configure_threads() == 1


def test_workers_split_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    assert threads.configure_threads(workers=4) == 4
    assert threads.configure_threads(workers=3) == 5
    assert threads.configure_threads(workers=64) == 1  # never 0


def test_launcher_env_is_respected(monkeypatch):
    # joblib's loky backend sets OMP_NUM_THREADS = cores // n_jobs in each worker
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "in_joblib_worker", lambda: True)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # wins over the worker split (8 cores / 2 workers = 4)
    monkeypatch.setenv("FROZEN_BENCH_WORKERS", "2")
    assert threads.configure_threads() == 1


def test_joblib_worker_without_env_gets_its_share(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "in_joblib_worker", lambda: True)
    monkeypatch.setenv("FROZEN_BENCH_WORKERS", "2")
    assert threads.configure_threads() == 4


def test_slurm_allocation_limits_cores(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert threads.available_cores() == 1


def test_real_joblib_workers_do_not_oversubscribe():
    joblib = pytest.importorskip("joblib")
    cores = threads.available_cores()
    got = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(threads.configure_threads)() for _ in range(2)
    )
    assert all(g == max(1, cores // 2) for g in got)


_FAULTS = """
import resource, sys, torch
from frozen_bench.train import threads
if sys.argv[1] == "kept":
    assert threads.configure_malloc()
torch.ones(16 << 20)  # 64 MB: the first one always faults its pages in
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    torch.ones(16 << 20)  # freed at once, as an op's temporary is
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_configure_malloc_makes_freed_tensors_memory_reused_without_page_faults():
    import subprocess
    import sys

    def faults(mode):
        return int(subprocess.run([sys.executable, "-c", _FAULTS, mode], check=True, capture_output=True,
                                  text=True).stdout)
    default, kept = faults("default"), faults("kept")
    assert default > 4 * 8000  # each 64 MB tensor a fresh mapping: its 16k pages fault again
    assert kept < default / 2  # (at most one more growth of the heap)
