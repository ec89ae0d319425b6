"""What a run measures: accuracy, macro F1, latency, parameter/byte counts, convergence speed."""

from __future__ import annotations

import time

import torch
from torch import nn


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


def f1_macro(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> float:
    """Macro-averaged F1 over the classes present in y or pred (sklearn's convention)."""
    cm = torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes).view(num_classes, num_classes)
    tp = cm.diag().double()
    support = cm.sum(1).double()  # true counts
    predicted = cm.sum(0).double()
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp))
    return f1[present].mean().item()


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def total_params(model: nn.Module) -> int:
    """Trainable + frozen parameters, plus the entries of fixed matrices that modules hold as
    buffers (``fixed_numel()``, e.g. random_orth's n×n); computed transforms (WHT/DCT/FFT) hold
    no numbers and add 0."""
    params = sum(p.numel() for p in model.parameters())
    return params + sum(m.fixed_numel() for m in model.modules() if hasattr(m, "fixed_numel"))


def frozen_bytes(model: nn.Module) -> int:
    """Bytes needed to store the frozen part: frozen parameters at their dtype, plus what each
    fixed operator declares (0 for computed transforms, 8 for a seed-regenerated one)."""
    n = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    n += sum(m.frozen_bytes() for m in model.modules() if hasattr(m, "frozen_bytes") and m is not model)
    return n


def model_bytes(model: nn.Module) -> int:
    """Bytes to store the whole model: trainable parameters plus the frozen part."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad) + frozen_bytes(model)


@torch.inference_mode()
def latency_ms(model: nn.Module, input_shape: tuple[int, ...], batch: int, reps: int = 30,
               warmup: int = 5, device: str | torch.device = "cpu") -> tuple[float, float]:
    """(p50, p95) inference latency in ms for one batch of random input, after warm-up."""
    was_training = model.training
    model.eval()
    x = torch.randn(batch, *input_shape, device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        model(x)
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        model(x)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    model.train(was_training)
    t = torch.tensor(times)
    return t.quantile(0.5).item(), t.quantile(0.95).item()


def steps_to_converge(history: list[dict], key: str = "val_accuracy", frac: float = 0.99,
                      higher_is_better: bool = True) -> int | None:
    """First optimizer step at which the validation metric reached ``frac`` of its final value."""
    rows = [r for r in history if r.get(key) is not None]
    if not rows:
        return None
    final = rows[-1][key]
    for r in rows:
        ok = r[key] >= frac * final if higher_is_better else r[key] <= final / frac
        if ok:
            return int(r["step"])
    return int(rows[-1]["step"])


@torch.no_grad()
def activation_shapes(model: nn.Module, channels: int = 8, points: int = 25, lo: float = -3.0, hi: float = 3.0) -> str | None:
    """The learned per-channel functions of the model's first activation, sampled on a grid for
    the first ``channels`` channels, as compact JSON (so figures can draw them from all.csv)."""
    import json

    from frozen_bench.nn.activations import PAct

    act = next((m for m in model.modules() if isinstance(m, PAct)), None)
    if act is None:
        return None
    c = min(channels, act.channels)
    device = next((b.device for b in list(act.parameters()) + list(act.buffers())), torch.device("cpu"))
    grid = torch.linspace(lo, hi, points, device=device)
    x = grid.view(points, 1).expand(points, act.channels).contiguous()  # (P, C): each channel sees the grid
    y = act(x)[:, :c].T.cpu()  # (c, P)
    return json.dumps({"x": [round(v, 4) for v in grid.tolist()], "y": [[round(v, 4) for v in row] for row in y.tolist()]})

