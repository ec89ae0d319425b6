"""The linear classifier on the inputs: the floor every family must clear at its budget.

``side`` average-pools an image to side×side first (a fixed, parameter-free reduction), which is
how ``model.budget`` sizes it below the full input's C·H·W·classes weights.
"""

from __future__ import annotations

import math

from torch import nn

from frozen_bench.models.blocks import num_classes
from frozen_bench.models.budget import Layout, by_layouts, sized


class LinearClassifier(nn.Module):
    def __init__(self, input_shape, num_classes, side: int | None = None):
        super().__init__()
        image = len(input_shape) == 3
        self.pool = nn.AdaptiveAvgPool2d(side) if side and image and side < input_shape[1] else None
        feat = input_shape[0] * side * side if self.pool is not None else math.prod(input_shape)
        self.side = side if self.pool is not None else None
        self.fc = nn.Linear(feat, num_classes)

    def forward(self, x):
        if self.pool is not None:
            x = self.pool(x)  # (B, C, side, side)
        return self.fc(x.flatten(1))


def build(cfg: dict, data) -> LinearClassifier:
    m = cfg["model"]
    kw = dict(input_shape=data.input_shape, num_classes=num_classes(data), side=m.get("side"))
    shape = data.input_shape
    hi = shape[1] if len(shape) == 3 else 1
    return sized(cfg, LinearClassifier, kw,
                 by_layouts(lambda kw: [Layout("inputs pooled to side x side", lambda s: {**kw, "side": s}, lo=1, hi=hi)]),
                 shows=("side",))
