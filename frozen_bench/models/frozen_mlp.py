"""The frozen MLP: fixed mixing → light norm → PAct → adapter per block, then a small head.

Only the per-channel norm/activation parameters, the adapters, the gates and the head train.
Inputs are flattened and zero-padded to the block width (the transform's size, e.g. the next
power of two for WHT). ``permute=true`` inserts a fixed seeded channel permutation between blocks
(stored as its seed), so successive transforms do not simply cancel or re-mix the same subspaces
(WHT is its own inverse). ``readout=k`` sums fixed groups of width/k channels before the head, a
frozen reduction that lets the head, and so the trainable budget, shrink.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.models import register_model
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.adapters import make_adapter
from frozen_bench.nn.norms import Gate, make_norm
from frozen_bench.nn.transforms import make_transform


class FixedPermutation(nn.Module):
    def __init__(self, width: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("perm", torch.randperm(width, generator=g), persistent=False)

    def forward(self, x):
        return x[:, self.perm]

    def frozen_bytes(self) -> int:
        return 8  # regenerated from its seed


class FrozenBlock(nn.Module):
    def __init__(self, width, transform, seed, activation, act_kwargs, adapter, rank, norm, gate):
        super().__init__()
        self.mix = make_transform(transform, width, seed=seed)
        self.norm = make_norm(norm, width)
        self.act = make_activation(activation, width, **act_kwargs)
        self.adapter = make_adapter(adapter, width, rank)
        self.gate = Gate() if gate else None

    def forward(self, x):  # (B, W)
        h = self.mix(x)  # (B, W) fixed
        h = self.adapter(self.act(self.norm(h)))
        return self.gate(x, h) if self.gate is not None else h


def make_head(kind: str, width: int, num_classes: int, hidden: int, dropout: float) -> nn.Module:
    if kind == "linear":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes)) if dropout else nn.Linear(width, num_classes)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))
    raise ValueError(f"unknown head {kind!r}; choose linear or mlp")


class FrozenMLP(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, width: int | None = None, depth: int = 2,
                 transform: str = "wht", transform_seed: int = 0, activation: str = "bislope",
                 act_kwargs: dict | None = None, adapter: str = "none", rank: int = 0,
                 norm: str = "light", gate: bool = False, permute: bool = False,
                 head: str = "linear", head_hidden: int = 64, dropout: float = 0.0, readout: int | None = None):
        super().__init__()
        if depth < 1:
            raise ValueError(f"model.depth must be >= 1, got {depth}")
        width = max(width or in_dim, in_dim)
        width = make_transform(transform, width).out_dim  # e.g. the next power of two for WHT
        self.in_dim, self.width = in_dim, width
        blocks = []
        for i in range(depth):
            if permute and i > 0:
                blocks.append(FixedPermutation(width, seed=transform_seed * 1000 + i))
            blocks.append(FrozenBlock(width, transform, transform_seed + i, activation, act_kwargs or {},
                                      adapter, rank, norm, gate))
        self.blocks = nn.Sequential(*blocks)
        if readout is not None and (readout < 1 or width % readout):
            raise ValueError(f"model.readout={readout} must divide the block width {width}")
        self.readout = readout
        self.head = make_head(head, readout or width, num_classes, head_hidden, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, in_dim)
        if self.width > self.in_dim:
            x = F.pad(x, (0, self.width - self.in_dim))  # (B, W)
        return self.blocks(x)

    def forward(self, x):
        h = self.features(x)  # (B, W)
        if self.readout:
            h = h.view(len(h), self.readout, -1).sum(-1)  # (B, k): fixed group sums
        return self.head(h)


@register_model("frozen_mlp")
def build(cfg: dict, data) -> FrozenMLP:
    m, t, a, ad = cfg["model"], cfg["transform"], cfg["activation"], cfg["adapter"]
    return FrozenMLP(
        in_dim=math.prod(data.input_shape), num_classes=max(data.num_classes, 1),
        width=m.get("width"), depth=int(m.get("depth", 2)), transform=t["name"],
        transform_seed=int(t.get("seed", 0)), activation=a["name"],
        act_kwargs={k: v for k, v in a.items() if k != "name"}, adapter=ad["name"],
        rank=int(ad.get("rank", 0) or 0), norm=m.get("norm", "light"), gate=bool(m.get("gate", False)),
        permute=bool(m.get("permute", False)), head=m.get("head", "linear"),
        head_hidden=int(m.get("head_hidden", 64)), dropout=float(m.get("dropout", 0.0)),
        readout=int(m["readout"]) if m.get("readout") else None,
    )
