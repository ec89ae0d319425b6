"""Fully trained MLP baseline. ``model.budget`` sizes the hidden width (models/budget.py), so
frozen and dense models can be compared at equal trainable parameters."""

from __future__ import annotations

import math

from torch import nn

from frozen_bench.models.blocks import num_classes
from frozen_bench.models.budget import Layout, by_layouts, sized


class DenseMLP(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, width: int = 64, depth: int = 1, dropout: float = 0.0):
        super().__init__()
        self.width = width
        layers, d = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.flatten(1))


def build(cfg: dict, data) -> DenseMLP:
    m = cfg["model"]
    depth = int(m.get("depth", 1))
    if depth < 1:
        raise ValueError(f"model.depth must be >= 1, got {depth}")
    kw = dict(in_dim=math.prod(data.input_shape), num_classes=num_classes(data), width=int(m.get("width", 64)),
              depth=depth, dropout=float(m.get("dropout", 0.0)))
    # with a budget: the widest hidden layers within it
    return sized(cfg, DenseMLP, kw, by_layouts(lambda kw: [Layout(f"depth {depth}", lambda w: {**kw, "width": w})]),
                 shows=("depth", "width"))
