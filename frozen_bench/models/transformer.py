"""Transformers over token sequences: a frozen FNet-style one and its fully trained peer.

Tokens: an image (C, H, W) is cut into ``patch``×``patch`` patches (zero-padded on the right and
bottom to a multiple of the patch), N = ⌈H/p⌉·⌈W/p⌉ tokens of P = C·p·p values; a (F, T) feature map
(speech) is T tokens of its F values.

``frozen_transformer``: the patch embedding is fixed (``embed=random_orth``: a seeded Haar
orthogonal map, or ``embed=transform``: the configured transform, both as a structured
projection, see ``FixedProjection``) and a fixed sin/cos position code is added; the sequence is
zero-padded to the token transform's size N'. Per block, pre-norm residual sublayers:

- token mixing, fixed (FNet): ``mixer=transform`` applies the transform over the D features then
  over the N' tokens; ``mixer=random_attention`` is softmax self-attention with frozen, seeded
  random orthogonal q/k/v maps and one learned gate per head;
- a frozen MLP: a fixed D → H projection, the per-channel PAct on the H hidden channels, the
  adapter (LoRA) over them, a fixed H → D projection.

Trainable: the norms (LayerNorm over D by default), PActs, adapters, attention gates, and the head
(final norm, mean over tokens, linear). ``transformer`` is the trained peer of the same tokens and
depth: a linear patch embedding, learned positions, pre-LN blocks of multi-head self-attention
(``nn.MultiheadAttention``) and a GELU MLP, all trained.

``model.budget`` sizes either into [0.9·B, B] trainable (models/budget.py): first the widest model
dim D (with H = ``mlp_ratio``·D; for the frozen model D is a width its transform works at, so a
power of two for WHT, and for the trained one a multiple of ``heads``), then at that D the widest
MLP hidden width H within the budget; ``built`` records ``dim`` and ``mlp``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.models.blocks import activation_args, adapter_args, num_classes, transform_args
from frozen_bench.models.budget import Fit, Layout, fit_budget, largest_within, sized, trainable
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.adapters import make_adapter
from frozen_bench.nn.matrices import haar_orthogonal
from frozen_bench.nn.norms import make_norm
from frozen_bench.nn.transforms import make_transform, transform_out_dim


# ---------------------------------------------------------------- tokens


def token_shape(input_shape, patch: int, model: str) -> tuple[int, int]:
    """(N tokens, P values per token) of an input of this shape."""
    if len(input_shape) == 3:
        c, h, w = input_shape
        if patch < 1:
            raise ValueError(f"model.patch must be >= 1, got {patch}")
        return math.ceil(h / patch) * math.ceil(w / patch), c * patch * patch
    if len(input_shape) == 2:
        f, t = input_shape
        return t, f
    raise ValueError(f"model={model} needs image inputs (C, H, W) or (F, T) feature maps such as "
                     f"dataset=speech_commands_test12, got shape {tuple(input_shape)}; use frozen_mlp for flat inputs")


def to_tokens(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C·p·p) patches in row-major order; (B, F, T) -> (B, T, F)."""
    if x.dim() == 3:
        return x.transpose(1, 2)
    b, c, h, w = x.shape
    x = F.pad(x, (0, -w % patch, 0, -h % patch))
    x = x.unfold(2, patch, patch).unfold(3, patch, patch)  # (B, C, H/p, W/p, p, p)
    return x.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * patch * patch)


def sincos_positions(n: int, d: int) -> torch.Tensor:
    """(n, d) fixed sinusoidal position code (Vaswani et al.), unit scale."""
    pos = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / max(d, 1))
    code = torch.zeros(n, d)
    code[:, 0::2] = torch.sin(pos * freq)
    code[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return code


# ---------------------------------------------------------------- fixed parts


class FixedProjection(nn.Module):
    """A fixed n_in → n_out map built from a fixed transform T at the width w it works at for the
    narrower side (the structured random features of SORF), with no trainable parameter:

    - widening (n_out ≥ n_in): k = ⌈n_out / w⌉ blocks T(s_i ⊙ pad(x)) side by side, the first
      n_out kept; a truncated orthonormal map when k = 1;
    - narrowing (n_out < n_in): x zero-padded to k·w and cut into k chunks, Σ_i T(s_i ⊙ x_i),
      the first n_out kept (every input reaches the output, none is dropped),

    with s_i seeded ±1 signs (s_0 = 1) and a scale √(w / n_in), so each output has about the mean
    square of an input entry. Only transforms of width w run (never one at an awkward wide size).
    Stored size: the seed."""

    def __init__(self, n_in: int, n_out: int, transform: str, seed: int):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.widen = n_out >= n_in
        self.t = make_transform(transform, n_in if self.widen else n_out, seed=seed)
        w = self.w = self.t.out_dim
        self.k = math.ceil((n_out if self.widen else n_in) / w)
        g = torch.Generator().manual_seed(10_007 * seed + 17)
        signs = torch.randint(0, 2, (self.k, w), generator=g).float() * 2 - 1
        signs[0] = 1.0  # the first block is the transform itself
        # the scale folded into the signs (T is linear): one pass over the input, none over the output
        self.register_buffer("signs", signs * math.sqrt(w / n_in), persistent=False)  # regenerated from the seed

    def forward(self, x):  # (..., n_in)
        if self.widen:
            h = F.pad(x, (0, self.w - self.n_in))
            y = self.t.mix(h.unsqueeze(-2) * self.signs).flatten(-2)  # (..., k·w)
        else:
            h = F.pad(x, (0, self.k * self.w - self.n_in)).unflatten(-1, (self.k, self.w))  # (..., k, w)
            y = self.t.mix(h * self.signs).sum(-2)  # (..., w)
        return y[..., : self.n_out]

    def frozen_bytes(self) -> int:
        return 8  # the seed

    def fixed_numel(self) -> int:
        return self.signs.numel()  # the signs (the transform counts its own)

    def extra_repr(self) -> str:
        return f"{self.n_in} -> {self.n_out}, width={self.w}, blocks={self.k}"


class TransformMixer(nn.Module):
    """FNet's token mixing with a fixed real transform: over the D features, then over the N' tokens."""

    def __init__(self, n_tokens: int, dim: int, transform: str, seed: int):
        super().__init__()
        self.mix_feat = make_transform(transform, dim, seed=seed)
        self.mix_tok = make_transform(transform, n_tokens, seed=seed + 1000)

    def forward(self, x):  # (B, N', D)
        h = self.mix_feat(x)  # over features
        return self.mix_tok(h.transpose(1, 2).contiguous()).transpose(1, 2)  # over tokens, (B, N', D)


class RandomAttention(nn.Module):
    """Softmax self-attention whose q/k/v maps are frozen seeded random orthogonal matrices
    (non-persistent buffers, regenerated from the seed); one learned gate per head scales its output."""

    def __init__(self, dim: int, heads: int, seed: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.dim={dim} must be a multiple of model.heads={heads} for model.mixer=random_attention")
        self.heads = heads
        qkv = torch.cat([haar_orthogonal(dim, 3 * seed + i + 1).float() for i in range(3)], 1)  # (D, 3D)
        self.register_buffer("qkv", qkv, persistent=False)
        self.gates = nn.Parameter(torch.ones(heads))

    def forward(self, x):  # (B, N, D)
        b, n, d = x.shape
        q, k, v = (x @ self.qkv).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (B, h, N, d/h)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d/h)
        return (a * self.gates.view(1, -1, 1, 1)).transpose(1, 2).reshape(b, n, d)

    def frozen_bytes(self) -> int:
        return 8

    def fixed_numel(self) -> int:
        return self.qkv.numel()


def _flat_norm(name: str, dim: int) -> nn.Module:
    # on (B·N, D) rows: make_norm's channels are dim 1, so layernorm is nn.LayerNorm over D
    return make_norm(name, dim)


class FrozenBlock(nn.Module):
    def __init__(self, n_tokens, dim, hidden, transform, seed, mixer, heads, activation, act_kwargs,
                 adapter, rank, norm):
        super().__init__()
        self.norm1, self.norm2 = _flat_norm(norm, dim), _flat_norm(norm, dim)
        self.mixer = (RandomAttention(dim, heads, seed) if mixer == "random_attention"
                      else TransformMixer(n_tokens, dim, transform, seed))
        self.up = FixedProjection(dim, hidden, transform, seed + 2000)
        self.act = make_activation(activation, hidden, **act_kwargs)
        self.adapter = make_adapter(adapter, hidden, rank)
        self.down = FixedProjection(hidden, dim, transform, seed + 3000)

    def forward(self, x):  # (B, N', D)
        b, n, d = x.shape
        x = x + self.mixer(self.norm1(x.reshape(b * n, d)).view(b, n, d))  # fixed token mixing
        h = self.up(self.norm2(x.reshape(b * n, d)))  # (B·N', H) fixed
        return x + self.down(self.adapter(self.act(h))).view(b, n, d)  # PAct + adapter, fixed back to D


class FrozenTransformer(nn.Module):
    def __init__(self, input_shape, num_classes, patch=4, dim=64, depth=2, mlp=None, mlp_ratio=2.0,
                 transform="fft", transform_seed=0, embed="random_orth", mixer="transform", heads=4, pos="sincos",
                 activation="bislope", act_kwargs=None, adapter="none", rank=0, norm="layernorm", dropout=0.0):
        super().__init__()
        if depth < 1:
            raise ValueError(f"model.depth must be >= 1, got {depth}")
        if embed not in ("random_orth", "transform"):
            raise ValueError(f"unknown model.embed {embed!r}; choose random_orth or transform")
        if mixer not in ("transform", "random_attention"):
            raise ValueError(f"unknown model.mixer {mixer!r}; choose transform or random_attention")
        if pos not in ("sincos", "none"):
            raise ValueError(f"unknown model.pos {pos!r}; choose sincos or none")
        n, p = token_shape(input_shape, patch, "frozen_transformer")
        self.patch, self.n_tokens = int(patch), n
        self.dim = dim = transform_out_dim(transform, int(dim))  # a width the feature transform works at
        self.hidden = hidden = int(mlp) if mlp else max(1, round(mlp_ratio * dim))
        self.seq = n if mixer == "random_attention" else transform_out_dim(transform, n)  # tokens, padded
        self.embed = FixedProjection(p, dim, transform if embed == "transform" else "random_orth", transform_seed + 4000)
        self.register_buffer("pos", sincos_positions(n, dim) if pos == "sincos" else torch.zeros(n, dim),
                             persistent=False)
        self.blocks = nn.Sequential(*[
            FrozenBlock(self.seq, dim, hidden, transform, transform_seed + i, mixer, heads, activation,
                        act_kwargs or {}, adapter, rank, norm) for i in range(depth)])
        self.norm = _flat_norm(norm, dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):  # (B, C, H, W) or (B, F, T)
        h = self.embed(to_tokens(x, self.patch)) + self.pos  # (B, N, D) fixed
        h = F.pad(h, (0, 0, 0, self.seq - self.n_tokens))  # (B, N', D) zero tokens up to the transform's size
        h = self.blocks(h)
        b, n, d = h.shape
        h = self.norm(h.reshape(b * n, d)).view(b, n, d).mean(1)  # (B, D)
        return self.head(self.drop(h))


# ---------------------------------------------------------------- the trained peer


class TrainedBlock(nn.Module):
    def __init__(self, dim, hidden, heads, dropout):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x):  # (B, N, D)
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, input_shape, num_classes, patch=4, dim=64, depth=2, mlp=None, mlp_ratio=2.0, heads=4,
                 dropout=0.0):
        super().__init__()
        if depth < 1:
            raise ValueError(f"model.depth must be >= 1, got {depth}")
        if dim % heads:
            raise ValueError(f"model.dim={dim} must be a multiple of model.heads={heads}")
        n, p = token_shape(input_shape, patch, "transformer")
        self.patch, self.dim = int(patch), int(dim)
        self.hidden = hidden = int(mlp) if mlp else max(1, round(mlp_ratio * dim))
        self.embed = nn.Linear(p, dim)
        self.pos = nn.Parameter(torch.randn(n, dim) * 0.02)
        self.blocks = nn.Sequential(*[TrainedBlock(dim, hidden, heads, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        h = self.blocks(self.embed(to_tokens(x, self.patch)) + self.pos)  # (B, N, D)
        return self.head(self.drop(self.norm(h).mean(1)))


# ---------------------------------------------------------------- builders and budget sizing


def _common(cfg: dict, data) -> dict:
    m = cfg["model"]
    return dict(input_shape=data.input_shape, num_classes=num_classes(data), patch=int(m.get("patch", 4)),
                dim=int(m.get("dim", 64)), depth=int(m.get("depth", 2)),
                mlp=int(m["mlp"]) if m.get("mlp") else None, mlp_ratio=float(m.get("mlp_ratio", 2.0)),
                heads=int(m.get("heads", 4)), dropout=float(m.get("dropout", 0.0)))


def _widest(dims: Callable[[int], int]) -> Fit:
    """The budget's ``fit``: the widest dim ``dims(s)`` (H = mlp_ratio·dim) within the budget, then
    the widest MLP at that dim."""
    def fit(family: str, cls, kw: dict, budget: int) -> dict:
        def count(s: int) -> int:
            with torch.random.fork_rng(devices=[]):
                return trainable(cls(**{**kw, "dim": dims(s), "mlp": None}))

        lo = 1
        while round(kw["mlp_ratio"] * dims(lo)) < max(1, int(kw.get("rank", 0))):  # an adapter needs rank <= H
            lo += 1
        s = largest_within(count, budget, lo, 1 << 12) or lo
        dim = dims(s)
        with torch.random.fork_rng(devices=[]):
            base = cls(**{**kw, "dim": dim, "mlp": None})
        layouts = [Layout(f"dim {base.dim}, MLP width", lambda h: {**kw, "dim": dim, "mlp": h}, lo=base.hidden)]
        return fit_budget(family, cls, layouts, budget)

    return fit


def fast_width(transform: str, d: int, heads: int = 1) -> int:
    """``d``, or for the FFT the next width whose only prime factors are 2, 3 and 5 (and that the heads
    divide): pocketfft falls back to a Bluestein transform at a large prime factor, e.g. D = 249 = 3·83
    trains 2.4× slower than D = 256 (0.74 vs 0.31 s a step, batch 128, 49 tokens, 1 thread)."""
    if transform != "fft":
        return d

    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    while not (smooth(d) and d % heads == 0):
        d += 1
    return d


def _shape(model: nn.Module) -> dict:
    """What the record's ``built`` column says of a budget-sized transformer."""
    return {"dim": model.dim, "mlp": model.hidden}


def build_frozen(cfg: dict, data) -> FrozenTransformer:
    m = cfg["model"]
    kw = dict(_common(cfg, data), **transform_args(cfg), **activation_args(cfg), **adapter_args(cfg),
              embed=m.get("embed", "random_orth"), mixer=m.get("mixer", "transform"), pos=m.get("pos", "sincos"),
              norm=m.get("norm", "layernorm"))
    heads = kw["heads"] if kw["mixer"] == "random_attention" else 1
    return sized(cfg, FrozenTransformer, kw,
                 _widest(lambda s: fast_width(kw["transform"], transform_out_dim(kw["transform"], heads * s), heads)), shows=_shape)


def build_trained(cfg: dict, data) -> Transformer:
    m = cfg["model"]
    kw = _common(cfg, data)
    return sized(cfg, Transformer, kw, _widest(lambda s: kw["heads"] * s), shows=_shape)
