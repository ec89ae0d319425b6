"""Light normalization and gates: the cheap per-channel knobs around a frozen mixing step."""

from __future__ import annotations

import torch
from torch import nn

from frozen_bench.registry import Registry


class LightNorm(nn.Module):
    """Per-channel scale and bias (2 params/channel) on dim 1, no statistics: y = γ·x + β."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        shape = (1, -1, *([1] * (x.ndim - 2)))
        return torch.addcmul(self.bias.view(shape), x, self.scale.view(shape))  # β + x·γ in one pass


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dim 1 (any trailing spatial dims), with affine params."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.movedim(1, -1)).movedim(-1, 1) if x.ndim > 2 else self.norm(x)


class Gate(nn.Module):
    """A learned global scalar g per block: out = x + g·(block(x) − x); g=1 at init (plain block),
    g→0 switches the block off. Lets training attenuate blocks that do not help."""

    def __init__(self, init: float = 1.0):
        super().__init__()
        self.g = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x, h):
        return x + self.g * (h - x)


NORMS = Registry("norm", key="model.norm")
NORMS.add("none", lambda channels: nn.Identity())
NORMS.add("light", LightNorm)
NORMS.add("layernorm", ChannelLayerNorm)


def make_norm(name: str, channels: int) -> nn.Module:
    return NORMS.build(name, channels)
