"""The frozen MLP: fixed mixing → light norm → PAct → adapter per block, then a small head.

Only the per-channel norm/activation parameters, the adapters, the gates and the head train.
Inputs are flattened and zero-padded to the block width (the transform's size, e.g. the next
power of two for WHT). ``permute=learned`` learns that permutation instead (``LearnedPermutation``).
``permute=true`` inserts a fixed seeded channel permutation before every
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
from frozen_bench.models.budget import Layout, by_layouts, sized
from frozen_bench.nn import fused
from frozen_bench.nn.activations import BiSlope, make_activation
from frozen_bench.nn.adapters import NoAdapter, make_adapter
from frozen_bench.nn.norms import Gate, LightNorm, make_norm
from frozen_bench.nn.transforms import WHT, make_transform, transform_out_dim


class FixedPermutation(nn.Module):
    def __init__(self, width: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("perm", torch.randperm(width, generator=g), persistent=False)

    def forward(self, x):
        return x[:, self.perm]

    def frozen_bytes(self) -> int:
        return 8  # regenerated from its seed


class LearnedPermutation(nn.Module):
    """A learned channel permutation: one sort key per channel, the permutation sorts them.

    Evaluation applies exactly the permutation ``argsort(keys, descending)`` as an index
    (``x[:, perm]``). Training uses the hard permutation matrix in the forward pass and, for the
    gradient, SoftSort's relaxation (Prillo & Eisenschlos, 2020) P̃[j, i] = softmax_i(−|s₍ⱼ₎ − sᵢ| / τ),
    s₍ⱼ₎ the j-th largest key: straight-through, P = P_hard + P̃ − stop_grad(P̃). The keys start at
    the ranks of the seeded permutation ``permute=true`` would use (spaced by 1, so τ = 1 mixes
    neighbours), so the learned permutation starts as the fixed one. Cost: ``width`` trainable
    numbers per block; its own optimizer group (``optim.permute_lr``, default ``optim.lr``; no decay).
    """

    param_group = "permute"

    def __init__(self, width: int, seed: int, tau: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(width, generator=g)
        keys = torch.empty(width)
        keys[perm] = torch.arange(width, 0, -1, dtype=torch.float32)  # perm[j] has the j-th largest key
        self.keys = nn.Parameter(keys)
        self.register_buffer("init_perm", perm, persistent=False)
        self.tau = float(tau)

    def permutation(self) -> torch.Tensor:
        """(W,) the index map: output channel j is input channel perm[j]."""
        return torch.argsort(self.keys.detach(), descending=True, stable=True)

    def forward(self, x):  # (B, W)
        if not (self.training and torch.is_grad_enabled() and self.keys.requires_grad):
            return x[:, self.permutation()]  # exactly a permutation
        s = self.keys
        order = torch.argsort(s.detach(), descending=True, stable=True)
        soft = torch.softmax(-(s[order][:, None] - s[None, :]).abs() / self.tau, dim=1)  # (W out, W in)
        hard = torch.zeros_like(soft).scatter_(1, order[:, None], 1.0)
        p = hard + (soft - soft.detach())  # forward: the hard matrix; backward: SoftSort's
        return x @ p.T.to(x.dtype)

    def moved(self) -> float:
        """Fraction of output channels whose source differs from the initial permutation's."""
        return (self.permutation() != self.init_perm).float().mean().item()

    def extra_repr(self) -> str:
        return f"width={len(self.keys)}, tau={self.tau}"


def _permute_kind(v) -> str:
    """model.permute: false | true (fixed, seeded) | learned."""
    if v in (None, False, "none", "false"):
        return "none"
    if v in (True, "fixed", "true"):
        return "fixed"
    if v == "learned":
        return "learned"
    raise ValueError(f"model.permute must be false, true (a fixed seeded permutation) or learned, got {v!r}")


class FrozenBlock(nn.Module):
    def __init__(self, width, transform, seed, activation, act_kwargs, adapter, rank, norm, gate):
        super().__init__()
        self.mix = make_transform(transform, width, seed=seed)
        self.norm = make_norm(norm, width)
        self.act = make_activation(activation, width, **act_kwargs)
        self.adapter = make_adapter(adapter, width, rank)
        self.gate = Gate() if gate else None

    def forward(self, x):  # (B, W)
        params = self._one_call(x)
        if params:  # evaluation: the WHT, light norm and bi-slope PAct in one kernel call
            return fused.wht_block(x, *params)
        h = self.mix(x)  # (B, W) fixed
        h = self.adapter(self.act(self.norm(h)))
        return self.gate(x, h) if self.gate is not None else h

    def _one_call(self, x) -> tuple | None:
        """The kernel's parameters where it computes this block (evaluation mode, no graph, a WHT at
        x's width, light norm, bi-slope, no adapter, no gate), else None. Read each call: a module
        may be swapped (an export view replaces the transform)."""
        m = self._modules  # not nn.Module.__getattr__: at batch 1 every microsecond shows
        mix, norm, act = m["mix"], m["norm"], m["act"]
        if (self.training or torch.is_grad_enabled() or type(mix) is not WHT
                or not x.shape[-1] == mix.dim == mix.out_dim or type(norm) is not LightNorm
                or type(act) is not BiSlope or type(m["adapter"]) is not NoAdapter or m.get("gate") is not None):
            return None
        params = (norm.scale, norm.bias, act.a, act.b, act.c)
        return params if fused.wht_block_applies(x, *params) else None


class FrozenMLP(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, width: int | None = None, depth: int = 2,
                 transform: str = "wht", transform_seed: int = 0, activation: str = "bislope",
                 act_kwargs: dict | None = None, adapter: str = "none", rank: int = 0,
                 norm: str = "light", gate: bool = False, permute: bool | str = False,
                 head: str = "linear", head_hidden: int = 64, dropout: float = 0.0, readout: int | None = None,
                 permute_tau: float = 1.0):
        super().__init__()
        if depth < 1:
            raise ValueError(f"model.depth must be >= 1, got {depth}")
        width = max(width or in_dim, in_dim)
        width = transform_out_dim(transform, width)  # e.g. the next power of two for WHT
        self.in_dim, self.width = in_dim, width
        blocks = []
        kind = _permute_kind(permute)
        for i in range(depth):
            if kind == "fixed":
                blocks.append(FixedPermutation(width, seed=transform_seed * 1000 + i))
            elif kind == "learned":
                blocks.append(LearnedPermutation(width, seed=transform_seed * 1000 + i, tau=permute_tau))
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

    def record_metrics(self) -> dict:
        learned = [m for m in self.blocks if isinstance(m, LearnedPermutation)]
        if not learned:
            return {}
        # how far the learned permutations went from their seeded start
        return {"permute_moved": sum(m.moved() for m in learned) / len(learned)}

    def forward(self, x):
        h = self.features(x)  # (B, W)
        if self.readout:
            h = h.view(len(h), self.readout, -1).sum(-1)  # (B, k): fixed group sums
        return self.head(h)


def build(cfg: dict, data) -> FrozenMLP:
    m = cfg["model"]
    kw = dict(in_dim=math.prod(data.input_shape), num_classes=num_classes(data), width=m.get("width"),
              depth=int(m.get("depth", 2)), **transform_args(cfg), **activation_args(cfg), **adapter_args(cfg),
              norm=m.get("norm", "light"), gate=bool(m.get("gate", False)), permute=_permute_arg(m), **_permute_tau(m),
              head=m.get("head", "linear"), head_hidden=int(m.get("head_hidden", 64)),
              dropout=float(m.get("dropout", 0.0)), readout=int(m["readout"]) if m.get("readout") else None)
    return sized(cfg, FrozenMLP, kw, by_layouts(budget_layouts), shows=("depth", "head", "head_hidden", "readout"))


def _permute_arg(m: dict):
    kind = _permute_kind(m.get("permute", False))
    return "learned" if kind == "learned" else kind == "fixed"


def _permute_tau(m: dict) -> dict:
    """``model.permute_tau`` (SoftSort's temperature), read only for a learned permutation."""
    return {"permute_tau": float(m.get("permute_tau", 1.0))} if _permute_kind(m.get("permute")) == "learned" else {}


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
