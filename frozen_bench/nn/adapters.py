"""Small trainable adapters placed after a frozen mixing + PAct step.

All act on the channel dim 1 of ``(B, C, ...)`` and are residual with a zero-initialised output
factor, so a block's output is unchanged at step 0 (the frozen net is the starting point).

- ``none``: identity, whatever ``adapter.rank`` says (``reads_rank``). Any adapter with
  ``rank=0`` is also the identity (PAct only), so a rank sweep can start at 0.
- ``lora``: x + x·U·V, U (C×r) small random, V (r×C) zero: a rank-r ΔW = U·V.
- ``bottleneck``: x + up(relu(down(x))), down C→r, up r→C zero-initialised (with biases).
- ``conv1x1``: x + pointwise channel mixing of rank r (two 1×1 convs), for feature maps; on
  (B, C) vectors it is a LoRA with biases.
"""

from __future__ import annotations

import torch
from torch import nn

from frozen_bench.nn import fused
from frozen_bench.nn.derived import derived
from frozen_bench.registry import Registry


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, -1) if x.ndim > 2 else x


def _channels_first(x: torch.Tensor, ndim: int) -> torch.Tensor:
    return x.movedim(-1, 1) if ndim > 2 else x


class NoAdapter(nn.Module):
    rank = 0

    def __init__(self, channels: int, rank: int = 0):
        super().__init__()

    def forward(self, x):
        return x


class LoRA(nn.Module):
    def __init__(self, channels: int, rank: int):
        super().__init__()
        self.rank = rank
        self.U = nn.Parameter(torch.randn(channels, rank) / channels**0.5)
        self.V = nn.Parameter(torch.zeros(rank, channels))

    def macs_per_output(self) -> int:
        """Multiply-adds per output value (``train.compute``): x·U then ·V, r each (the residual add not counted)."""
        return 2 * self.rank

    def forward(self, x):
        if x.ndim <= 2:
            return x + (x @ self.U) @ self.V
        # feature maps, training where the kernels apply: the low-rank form one image at a time in
        # cache (fused.lora_map). Otherwise x + Vᵀ Uᵀ x at every position is M x with M = I + (UV)ᵀ, one
        # (C, C) product over the (B, C, S) view (no channels-last copies, no separate residual add; on
        # CPU, C = 32..128, r = 8: 1.0-1.3x faster than the channels-last thin products in training,
        # 1.2-3x at evaluation); past C = 32 r the low-rank form does so many fewer FLOPs that it is kept
        grad = torch.is_grad_enabled() and (x.requires_grad or self.U.requires_grad or self.V.requires_grad)
        if grad and fused.lora_map_applies(x, self.U, self.V):
            return fused.lora_map(x, self.U, self.V)
        h = x.reshape(x.shape[0], x.shape[1], -1)  # (B, C, S)
        if len(self.U) > 32 * self.rank:
            return x + (self.V.T @ (self.U.T @ h)).view_as(x)
        if grad:
            m = torch.eye(len(self.U), dtype=x.dtype, device=x.device) + (self.U @ self.V).T.to(x.dtype)
            # einsum's (C, B·S) product has the fastest backward here; its result is laid out (C, B, S),
            # so it is made contiguous once (the pool after it reads NCHW)
            return torch.einsum("oc,bcs->bos", m, h).contiguous().view_as(x)
        return (self.merged(x) @ h).view_as(x)  # no graph: M cached until U or V change, one batched product

    def merged(self, x: torch.Tensor) -> torch.Tensor:
        """M = I + (UV)ᵀ, (C, C), rebuilt only when U or V changed."""
        def build():
            u, v = self.U.to(x), self.V.to(x)
            return torch.eye(len(u), dtype=x.dtype, device=x.device).addmm_(v.T, u.T)
        return derived(self, "merged", (self.U, self.V), x, build)


class Bottleneck(nn.Module):
    def __init__(self, channels: int, rank: int, bias: bool = True):
        super().__init__()
        self.rank = rank
        self.down = nn.Linear(channels, rank, bias=bias)
        self.up = nn.Linear(rank, channels, bias=bias)
        nn.init.zeros_(self.up.weight)
        if bias:
            nn.init.zeros_(self.up.bias)

    def forward(self, x):
        h = _channels_last(x)
        return x + _channels_first(self.up(torch.relu(self.down(h))), x.ndim)


class Conv1x1(nn.Module):
    """Low-rank pointwise (1×1) convolution: linear over channels at every position."""

    def __init__(self, channels: int, rank: int):
        super().__init__()
        self.rank = rank
        self.down = nn.Linear(channels, rank, bias=False)
        self.up = nn.Linear(rank, channels, bias=True)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def macs_per_output(self) -> int:
        """Multiply-adds per output value (``train.compute``): down then up, r each."""
        return 2 * self.rank

    def forward(self, x):
        if x.ndim <= 2:
            return x + self.up(self.down(x))
        # feature maps: both products on the (B, C, S) view, no channels-last copies (forward +
        # backward 1.2-1.25x faster than nn.Linear over x.movedim(1, -1) at C = 11..40, r = 8, 1 thread)
        h = x.reshape(x.shape[0], x.shape[1], -1)
        if not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))):
            m, b = self.merged(x)  # no graph: x + up(down(x)) = M x + b, one batched product
            return torch.baddbmm(b.view(1, -1, 1), m.expand(len(h), -1, -1), h).view_as(x)
        d = torch.einsum("rc,bcs->brs", self.down.weight, h)
        return x + (torch.einsum("cr,brs->bcs", self.up.weight, d) + self.up.bias.view(1, -1, 1)).view_as(x)

    def merged(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, b) = (I + W_up W_down, b_up), rebuilt only when a weight changed."""
        def build():
            m = torch.eye(self.up.out_features, dtype=x.dtype, device=x.device)
            return m.addmm_(self.up.weight.to(x), self.down.weight.to(x)), self.up.bias.to(x)
        return derived(self, "merged", (self.down.weight, self.up.weight, self.up.bias), x, build)


ADAPTERS = Registry("adapter")
ADAPTERS.add("none", NoAdapter)
ADAPTERS.add("lora", LoRA)
ADAPTERS.add("bottleneck", Bottleneck)
ADAPTERS.add("conv1x1", Conv1x1)


def reads_rank(name: str | None) -> bool:
    """Whether ``adapter=NAME`` reads ``adapter.rank``: every adapter but ``none``, which means no
    adapter, so its rank is ignored (dropped from the signature, recorded as 0, never checked).
    The one place that rule is written."""
    return name != "none"


def make_adapter(name: str, channels: int, rank: int = 0) -> nn.Module:
    cls = ADAPTERS.entry(name).build
    if rank < 0:
        raise ValueError(f"adapter.rank must be >= 0 (0: no adapter), got {rank}")
    if not reads_rank(name) or rank == 0:
        return NoAdapter(channels)
    if rank > channels:
        raise ValueError(f"adapter.rank={rank} is larger than the width {channels}; use rank <= {channels}")
    return cls(channels, rank)
