"""What a record says about the run besides its metrics: identity columns and provenance."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def record_fields(cfg: dict) -> dict:
    """The identity columns of a run, read from its pruned config (``models.prune``): a group the
    model does not read is absent, so its column is empty."""
    from frozen_bench.nn.adapters import reads_rank  # (imports torch: only once a run is recorded)

    model, optim, trainer = cfg.get("model") or {}, cfg.get("optim") or {}, cfg.get("trainer") or {}
    adapter = cfg.get("adapter")
    return {
        "exp": cfg.get("exp_name"),
        "profile": cfg.get("profile"),
        "budget_name": cfg.get("budget_name"),
        "family": cfg.get("family"),
        "family_kind": cfg.get("family_kind"),
        "model": model.get("name"),
        "budget": model.get("budget"),
        "transform": (cfg.get("transform") or {}).get("name"),
        "activation": (cfg.get("activation") or {}).get("name"),
        "adapter": adapter.get("name") if adapter else None,
        "adapter_rank": (_int_or_raw(adapter.get("rank")) if reads_rank(adapter.get("name")) else 0) if adapter else None,
        "width": model.get("width"),
        "depth": model.get("depth"),
        "seed": cfg.get("seed"),
        "subset": (cfg.get("dataset") or {}).get("subset"),
        "frontend": (cfg.get("dataset") or {}).get("frontend"),  # speech features: logmel | mfcc | fft
        "mix_time": model.get("mix_time"),  # frozen_audio: also mixes along time
        "norm": model.get("norm"),
        "lr": optim.get("lr"),
        "weight_decay": optim.get("weight_decay"),
        "act_lr_mult": optim.get("act_lr_mult"),
        "act_delta_l1": optim.get("act_delta_l1"),  # +optim.act_delta_l1=λ (sparse PAct deltas); absent: none
        "augment": (cfg.get("augment") or {"name": "none"}).get("name"),
        "epochs": trainer.get("epochs"),
        "batch_size": trainer.get("batch_size"),
    }


def _int_or_raw(v):
    """An int where the value is one; a failed record of a bad value (rank=abc) keeps it as given."""
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return v


def provenance(started: float, words: list[str] | None = None) -> dict:
    """Where and with what the run ran: the software, the machine, and the native-kernel backend
    with the threads and CPU that explain its latency. Not part of the signature. ``words``: the
    run's own overrides where this process is not its ``frozen-bench run`` (``run-lines``)."""
    import torch

    return {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "kernel_backend": kernel_backend(),
        "torch_threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
        "git_commit": code_version()[0],
        "git_dirty": code_version()[1],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "command": " ".join(["frozen-bench", "run", *(sys.argv[1:] if words is None else words)]),
        "overrides": job_overrides() if words is None else " ".join(words),
    }


def job_overrides() -> str | None:
    """This job's own Hydra overrides (a sweep point's, not the sweep command's), space-joined:
    what a search's chosen trial is re-run with (``report/design.py``). None outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        return " ".join(str(o) for o in HydraConfig.get().overrides.task)
    except Exception:  # provenance never fails a run
        return None


def kernel_backend() -> str:
    """The fixed transforms' CPU backend (``nn.fast.backend_status``: native with its vector width,
    or the torch fallback and why); ``unused`` when nothing in this process called the kernel,
    so that recording it never compiles it."""
    from frozen_bench.nn import native
    from frozen_bench.nn.fast import backend_status

    if not native.tried() and not native.disabled():
        return "unused"
    return backend_status()


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or None


_CODE: dict = {}  # this process's code version, read once


def code_version() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the code this process runs, read once: ``run.execute`` asks at the start
    of the process's first run, before training imports the models, not when a record is written.
    A long-lived worker (``run-lines``) keeps running the code it loaded while the checkout moves
    on; a record must name that code, or a commit made during a long run would mark its record
    stale (or dirty) for code it never ran."""
    if not _CODE:
        _CODE.update(commit=git_commit(), dirty=git_dirty())
    return _CODE["commit"], _CODE["dirty"]


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None



# the source folders whose code can change a run's numbers: a record made at a commit whose files
# here differ from HEAD's is "stale" (collect's ``stale`` column, ``pending --stale``); the report,
# the launchers and the docs cannot change a number
RESULT_PATHS = ("frozen_bench/models", "frozen_bench/nn", "frozen_bench/train", "frozen_bench/data")
_STALE: dict[tuple[str, str], bool | None] = {}  # (commit, HEAD) -> stale, per process


def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None


def stale_commits(commits) -> dict[str, bool | None]:
    """For each recorded ``git_commit``: True where ``RESULT_PATHS`` differ between it and HEAD,
    False where they are the same, None where it cannot be told (no commit recorded, a commit this
    checkout does not have, no git: an installed wheel)."""
    head = git_commit()
    out: dict[str, bool | None] = {}
    for c in {str(c) for c in commits if c is not None and str(c) not in ("", "nan", "None")}:
        if head is None:
            out[c] = None
            continue
        if (c, head) not in _STALE:
            known = _git("cat-file", "-e", f"{c}^{{commit}}")
            if known is None or known.returncode != 0:
                _STALE[(c, head)] = None
            else:
                diff = _git("diff", "--quiet", c, "HEAD", "--", *(f":(top){p}" for p in RESULT_PATHS))
                _STALE[(c, head)] = None if diff is None or diff.returncode not in (0, 1) else diff.returncode == 1
        out[c] = _STALE[(c, head)]
    return out


def git_dirty() -> bool | None:
    """Whether the code that can change a run's numbers (``RESULT_PATHS``, as for "stale") had
    uncommitted changes to tracked files: an edit to a launcher, a test or the docs leaves a record
    clean. None outside a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                              *(f":(top){p}" for p in RESULT_PATHS)],
                             cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        return bool(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None
