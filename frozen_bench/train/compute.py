"""Compute, the second axis of every comparison: multiply-adds per example, counted from the built
model on one example, with fixed operators counted in the structure they run in.

Counted: convolutions and linear layers (weights × output positions), fixed transforms along the
last axis (``FixedTransform.ops_per_row``: n·log2 n for the WHT, 2·n·log2 n for the FFT-based DCT/FFT,
n² for a random orthogonal matrix), and any module that states its own cost per output pixel
(``macs_per_pixel``: the frozen ResNets' convs, the frozen CNN's fused filter bank + mixing in its
structured form where it runs so) or per output value (``macs_per_output``: a masked Linear, a
low-rank adapter, a depthwise filter bank). Not counted: elementwise work (norms, PActs, pooling, residual
adds), the same convention as the usual FLOP counters (fvcore, thop), so numbers compare with
published multiply-add counts. A counted module's children are not counted again.
"""

from __future__ import annotations

import torch
from torch import nn


def _own_cost(m: nn.Module):
    """(module -> cost of one call given its output) for a module counted as a whole, else None."""
    from frozen_bench.nn.transforms import FixedTransform

    if hasattr(m, "macs_per_pixel"):  # (B, C, H, W) out: a fixed conv that states its cost a pixel
        return lambda out: m.macs_per_pixel() * out.shape[-1] * out.shape[-2]
    if hasattr(m, "macs_per_output"):  # a layer applied functionally (a masked Linear): its cost per output value
        return lambda out: m.macs_per_output() * (out.numel() // out.shape[0])
    if isinstance(m, FixedTransform):  # rows of out_dim values along the last axis
        return lambda out: m.ops_per_row() * (out.numel() // out.shape[0]) / max(out.shape[-1], 1)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        per = m.weight[0].numel()  # (cin/groups)·k… multiply-adds per output value
        return lambda out: per * (out.numel() // out.shape[0])
    if isinstance(m, nn.Linear):
        return lambda out: m.in_features * (out.numel() // out.shape[0])
    if isinstance(m, nn.MultiheadAttention):
        return None  # its projections are Linear children; the attention product is elementwise-sized
    return None


def macs_per_example(model: nn.Module, input_shape: tuple[int, ...], device="cpu") -> int:
    """Multiply-adds of one forward pass of one example, the map the model computes. Counted on a copy
    in training mode: at evaluation some models run several modules as one kernel call (a BatchNorm
    folded into a fixed conv, the stage tail, the frozen MLP block), which no module hook would see;
    training mode calls every module, and the copy keeps the model's statistics untouched. Two
    examples, so a batch statistic exists; the count is per example."""
    import copy

    model = copy.deepcopy(model).train()
    counted: list[float] = []
    hooks = []

    def visit(m: nn.Module):
        cost = _own_cost(m)
        if cost is not None:
            hooks.append(m.register_forward_hook(lambda mod, inp, out, cost=cost: counted.append(
                float(cost(out[0] if isinstance(out, tuple) else out)))))
            return  # its children are part of it
        for child in m.children():
            visit(child)

    visit(model)
    with torch.no_grad():
        model(torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0)).to(device))
    return int(round(sum(counted)))  # each hook counts per example (its output over the batch)


def fixed_params(model: nn.Module) -> int:
    """Numbers in the fixed maps as the model holds them: frozen parameters plus fixed buffers
    (``fixed_numel``: a random conv's kernel, a fused fixed conv, a random orthogonal matrix)."""
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return frozen + sum(m.fixed_numel() for m in model.modules() if hasattr(m, "fixed_numel") and m is not model)
