"""Fully trained MLP baseline. ``budget`` sizes the hidden width to a trainable-parameter budget,
so frozen and dense models can be compared at equal trainable parameters."""

from __future__ import annotations

import math

from torch import nn

from frozen_bench.models import register_model


def dense_params(in_dim: int, width: int, depth: int, num_classes: int) -> int:
    return in_dim * width + width + (depth - 1) * (width * width + width) + width * num_classes + num_classes


def width_for_budget(budget: int, in_dim: int, depth: int, num_classes: int) -> int:
    """Largest hidden width whose parameter count stays within ``budget`` (at least 1)."""
    w = 1
    while dense_params(in_dim, w + 1, depth, num_classes) <= budget:
        w += 1
    return w


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


@register_model("dense_mlp")
def build(cfg: dict, data) -> DenseMLP:
    m = cfg["model"]
    in_dim, classes = math.prod(data.input_shape), max(data.num_classes, 1)
    depth = int(m.get("depth", 1))
    if depth < 1:
        raise ValueError(f"model.depth must be >= 1, got {depth}")
    budget = m.get("budget")
    width = width_for_budget(int(budget), in_dim, depth, classes) if budget else int(m.get("width", 64))
    return DenseMLP(in_dim, classes, width, depth, float(m.get("dropout", 0.0)))
