"""Check a resolved training config before anything is loaded or written.

``validate`` raises ``UserError`` with one line: the key, the bad value and what to set instead.
Checks that need the data (e.g. ``adapter.rank`` against the real block width, which depends on
the input size and the transform's padding) stay where that is known (``make_adapter``); they
still fail before anything is written, since a run writes only after training. The run's other
checks (the logger's library, a writable results folder) are the run's (``run.check``,
``record.store.check_writable``).
"""

from __future__ import annotations

import math

from frozen_bench.config import lookup
from frozen_bench.errors import UserError
from frozen_bench.nn.adapters import reads_rank


def _int(cfg: dict, key: str, low: int, optional: bool = False, hint: str = "") -> None:
    v = lookup(cfg, key)
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        extra = f" ({hint})" if hint else ""
        raise UserError(f"{key} must be an integer >= {low}{' or null' if optional else ''}, got {v!r}; "
                        f"set {key}=N with N >= {low}{extra}")


def _float(cfg: dict, key: str, low: float, high: float | None = None, low_open: bool = False,
           high_open: bool = False, optional: bool = False) -> None:
    v = lookup(cfg, key)
    if v is None and optional:
        return
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low)
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        rng = f"{'(' if low_open else '['}{low}, {'' if high is None else high}{')' if high_open or high is None else ']'}"
        raise UserError(f"{key} must be a number in {rng}{' or null' if optional else ''}, got {v!r}; set {key}=X with X in {rng}")


def validate(cfg: dict) -> None:
    """Raise ``UserError`` for the first bad value in ``cfg`` (a plain resolved config dict)."""
    _int(cfg, "seed", 0)
    _int(cfg, "trainer.epochs", 1)
    _int(cfg, "trainer.batch_size", 1)
    _int(cfg, "trainer.max_steps", 1, optional=True)
    _int(cfg, "trainer.eval_every", 1, optional=True)
    _int(cfg, "trainer.latency_reps", 0, optional=True, hint="0 skips the latency measurement")
    _int(cfg, "trainer.threads", 1, optional=True, hint="null uses all cores")
    _int(cfg, "trainer.checkpoint_every", 0, optional=True, hint="0 turns checkpoints off")
    device = lookup(cfg, "trainer.device")
    if device is not None and device not in ("auto", "cpu", "cuda"):
        raise UserError(f"trainer.device must be auto, cpu or cuda, got {device!r}; set trainer.device=auto")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("trainer.device=cuda but no CUDA device is available here; "
                            "set trainer.device=cpu, or trainer.device=auto to use a GPU where there is one")
    if lookup(cfg, "optim") is not None:
        _float(cfg, "optim.lr", 0.0, low_open=True)
        _float(cfg, "optim.weight_decay", 0.0, optional=True)
        _float(cfg, "optim.warmup_frac", 0.0, 1.0, optional=True)
        _float(cfg, "optim.grad_clip", 0.0, low_open=True, optional=True)
        _float(cfg, "optim.act_delta_l1", 0.0, optional=True)  # opt-in keys (+optim.KEY=...)
        _float(cfg, "optim.act_delta_tol", 0.0, low_open=True, optional=True)
    _int(cfg, "model.width", 1, optional=True, hint="null uses the input width")
    _int(cfg, "model.depth", 1, optional=True)
    _int(cfg, "model.budget", 1, optional=True)
    adapter = lookup(cfg, "adapter")
    if isinstance(adapter, dict) and adapter.get("name") is not None and reads_rank(adapter["name"]):
        _int(cfg, "adapter.rank", 0, hint="0 means no adapter (PAct only)")
    _int(cfg, "dataset.subset", 1, optional=True, hint="null keeps all training samples")
    _float(cfg, "dataset.val_fraction", 0.0, 1.0, high_open=True, optional=True)
    classes = lookup(cfg, "dataset.keep_classes")  # opt-in (+dataset.keep_classes=[7,8,9]): a class-subset task
    if classes is not None and (not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes)
                                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in classes)):
        raise UserError(f"dataset.keep_classes must list at least 2 distinct class numbers, got {classes!r}; "
                        f"set +dataset.keep_classes=[7,8,9]")
    prior = lookup(cfg, "activation.init_from")
    if prior not in (None, ""):  # opt-in (+activation.init_from=PATH): a missing or foreign file is one line, before any data load
        from frozen_bench.train.act_init import read  # (imports torch: only where the key is used)

        read(prior)
