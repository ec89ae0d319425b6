"""The frozen MLP: fixed mixing → light norm → PAct → adapter per block, then a small head.

Only the per-channel norm/activation parameters, the adapters, the gates and the head train.
Inputs are flattened and zero-padded to the block width (the transform's size, e.g. the next
power of two for WHT). ``permute=true`` inserts a fixed seeded channel permutation before every
block (stored as its seed): successive transforms then do not simply cancel or re-mix the same
subspaces (WHT is its own inverse), and a zero-padded input is scattered over the whole width, so
a width beyond the input's gives new features rather than copies (WHT rows agree on a leading block
of columns up to sign). ``readout=k`` sums fixed groups of width/k channels before the head, a
frozen reduction that lets the head, and so the trainable budget, shrink.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.models.blocks import activation_args, adapter_args, make_head, num_classes, transform_args
from frozen_bench.models.budget import Layout, built, fit_budget
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.adapters import make_adapter
from frozen_bench.nn.norms import Gate, make_norm
from frozen_bench.nn.transforms import make_transform, transform_out_dim


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
        width = transform_out_dim(transform, width)  # e.g. the next power of two for WHT
        self.in_dim, self.width = in_dim, width
        blocks = []
        for i in range(depth):
            if permute:
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


def build(cfg: dict, data) -> FrozenMLP:
    m = cfg["model"]
    kw = dict(in_dim=math.prod(data.input_shape), num_classes=num_classes(data), width=m.get("width"),
              depth=int(m.get("depth", 2)), **transform_args(cfg), **activation_args(cfg), **adapter_args(cfg),
              norm=m.get("norm", "light"), gate=bool(m.get("gate", False)), permute=bool(m.get("permute", False)),
              head=m.get("head", "linear"), head_hidden=int(m.get("head_hidden", 64)),
              dropout=float(m.get("dropout", 0.0)), readout=int(m["readout"]) if m.get("readout") else None)
    if m.get("budget"):
        kw = fit_budget("frozen_mlp", FrozenMLP, budget_layouts(kw), int(m["budget"]))
        return built(FrozenMLP(**kw), kw, ("depth", "head", "head_hidden", "readout"))
    return FrozenMLP(**kw)


def budget_layouts(kw: dict) -> list[Layout]:
    """At the block width the config gives, from the configured depth down to 1: a linear head on
    2^s fixed group sums (``readout``), then an MLP head of s hidden units."""
    width = transform_out_dim(kw["transform"], max(kw["width"] or kw["in_dim"], kw["in_dim"]))
    out = []
    for depth in range(int(kw["depth"]), 0, -1):
        out.append(Layout(f"depth {depth}, readout 2^s", lambda s, d=depth: {**kw, "depth": d, "head": "linear", "readout": 2 ** s},
                          lo=0, hi=max(0, width.bit_length() - 1)))
        out.append(Layout(f"depth {depth}, mlp head", lambda s, d=depth: {**kw, "depth": d, "head": "mlp", "head_hidden": s, "readout": None}))
    return out
