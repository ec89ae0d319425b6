"""The linear classifier on the inputs: the floor every family must clear at its budget.

``side`` average-pools the input's last two axes to at most side×side first (a fixed,
parameter-free reduction): an image's height and width, or a log-mel map's frequency and time.
That is how ``model.budget`` sizes it below the full input's C·H·W·classes weights.
"""

from __future__ import annotations

import math

from torch import nn

from frozen_bench.models.blocks import num_classes
from frozen_bench.models.budget import Layout, by_layouts, sized


def pooled_shape(input_shape, side: int | None) -> tuple[int, ...]:
    """The input's shape after pooling its last two axes to at most ``side`` each (flat inputs: as is)."""
    if not side or len(input_shape) < 2:
        return tuple(input_shape)
    *lead, h, w = input_shape
    return (*lead, min(side, h), min(side, w))


class LinearClassifier(nn.Module):
    def __init__(self, input_shape, num_classes, side: int | None = None):
        super().__init__()
        shape = pooled_shape(input_shape, side)
        self.pool = nn.AdaptiveAvgPool2d(shape[-2:]) if shape != tuple(input_shape) else None
        self.side = side if self.pool is not None else None
        self.fc = nn.Linear(math.prod(shape), num_classes)

    def forward(self, x):
        if self.pool is not None:
            # a (B, F, T) log-mel map is pooled as one channel; a (B, C, H, W) image per channel
            x = self.pool(x.unsqueeze(1) if x.dim() == 3 else x)
        return self.fc(x.flatten(1))


def build(cfg: dict, data) -> LinearClassifier:
    m = cfg["model"]
    kw = dict(input_shape=data.input_shape, num_classes=num_classes(data), side=m.get("side"))
    shape = data.input_shape
    hi = max(shape[-2:]) if len(shape) >= 2 else 1
    return sized(cfg, LinearClassifier, kw,
                 by_layouts(lambda kw: [Layout("inputs pooled to side x side", lambda s: {**kw, "side": s}, lo=1, hi=hi)]),
                 shows=("side",))
