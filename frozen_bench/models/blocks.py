"""Blocks and config readers shared by the model builders: heads, 2-D norms, and the unpacking of
the ``activation``/``adapter``/``transform`` groups into builder arguments (one copy, not one per model)."""

from __future__ import annotations

import torch
from torch import nn

from frozen_bench.nn import fused
from frozen_bench.nn.derived import derived
from frozen_bench.nn.norms import make_norm


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)``, the same values and gradients, by the one-pass CPU kernel where it applies."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x):
        return fused.max_pool2x2(x)


def norm_act(norm: nn.Module, act: nn.Module, h):
    """``act(norm(h))``; a training-mode BatchNorm2d followed by the bi-slope PAct runs as one fused
    op where the kernels apply (``fused.batchnorm_bislope``: the same numbers, fewer passes)."""
    from frozen_bench.nn.activations import BiSlope

    if type(act) is BiSlope and fused.batchnorm_bislope_applies(norm, h, act.a, act.b, act.c):
        return fused.batchnorm_bislope(h, norm, act.a, act.b, act.c)
    return act(norm(h))


def stage_tail(norm: nn.Module | None, act: nn.Module, adapter: nn.Module | None, pool: nn.Module, h, shift=None):
    """``pool(adapter(act(norm(h))))``; ``norm=None``: h is normalized already, or becomes so when the
    per-channel ``shift`` is added (a BatchNorm folded into the conv before it); ``adapter=None``: none.
    At evaluation, without a graph, the bi-slope PAct, a LoRA (or none) and the 2×2 max pool after an eval-mode
    BatchNorm (or none) run as one pass over the map (``fused.stage_tail``: no full-resolution map is
    written between them); anything else, or training, runs the modules one after another."""
    from frozen_bench.nn.activations import BiSlope
    from frozen_bench.nn.adapters import LoRA, NoAdapter

    fusable = (type(act) is BiSlope and type(pool) is MaxPool2x2 and (adapter is None or type(adapter) in (LoRA, NoAdapter))
               and (norm is None or _eval_batchnorm(norm)) and not torch.is_grad_enabled())
    if fusable:
        scale, shift = _bn_affine(norm, h) if norm is not None else (None, shift)
        lora = type(adapter) is LoRA
        U, Vt = (adapter.U, _transposed(adapter, h)) if lora else (None, None)
        if fused.stage_tail_applies(h, scale, shift, act.a, act.b, act.c, U, Vt):
            return fused.stage_tail(h, scale, shift, act.a, act.b, act.c, U, Vt)
    if norm is not None:
        h = norm_act(norm, act, h)
    else:
        h = act(h if shift is None else h + shift.view(1, -1, *([1] * (h.ndim - 2))))
    return pool(h if adapter is None else adapter(h))


def _eval_batchnorm(norm) -> bool:
    return (type(norm) is nn.BatchNorm2d and not norm.training and norm.running_mean is not None
            and norm.running_var is not None)


def bn_eval_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, t), float64, with ``bn(x) = s·x + t`` per channel in evaluation: s = γ/√(σ²+ε), t = β − μ·s."""
    s = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight.double()
    t = -bn.running_mean.double() * s + (bn.bias.double() if bn.bias is not None else 0)
    return s, t


def bn_eval_parts(bn: nn.BatchNorm2d) -> list[torch.Tensor]:
    """The tensors ``bn_eval_affine`` reads: what a value derived from it must follow."""
    return [t for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var) if t is not None]


def _bn_affine(bn: nn.BatchNorm2d, like):
    """``bn_eval_affine`` in like's dtype, rebuilt when a statistic or parameter changed."""
    def build():
        s, t = bn_eval_affine(bn)
        return s.to(like.dtype).contiguous(), t.to(like.dtype).contiguous()
    return derived(bn, "eval_affine", bn_eval_parts(bn), like, build)


def _transposed(lora, like):
    """Vᵀ (C, r) of a LoRA, contiguous, rebuilt when V changed."""
    return derived(lora, "Vt", (lora.V,), like, lambda: lora.V.to(like.dtype).T.contiguous())


def make_head(kind: str, width: int, num_classes: int, hidden: int, dropout: float) -> nn.Module:
    if kind == "linear":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes)) if dropout else nn.Linear(width, num_classes)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))
    raise ValueError(f"unknown head {kind!r}; choose linear or mlp")


def make_norm2d(name: str, channels: int) -> nn.Module:
    # batch: BatchNorm2d (2 trainable params/channel + running statistics); others from nn.norms
    return nn.BatchNorm2d(channels) if name == "batch" else make_norm(name, channels)


def image_shape(input_shape) -> tuple[int, ...]:
    """The CNN families read a (F, T) feature map (speech front ends) as a 1-channel image."""
    return (1, *input_shape) if len(input_shape) == 2 else tuple(input_shape)


def as_image(x):
    """(B, F, T) -> (B, 1, F, T); images pass through."""
    return x.unsqueeze(1) if x.dim() == 3 else x


def stage_shapes(model: str, input_shape, widths, pool: str, flat_hint: str) -> list[tuple[int, int, int]]:
    """The (channels, height, width) after each stage of a CNN whose stages keep the size and,
    unless ``pool=none``, halve it: checks the inputs are images and the map stays >= 1 pixel."""
    if len(input_shape) != 3:
        raise ValueError(f"model={model} needs image inputs (C, H, W), got shape {tuple(input_shape)}; "
                         f"use {flat_hint} for flat inputs")
    if not widths:
        raise ValueError("model.widths must list at least one stage width")
    _, h, w = input_shape
    out = []
    for width in widths:
        if pool != "none":
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"{len(widths)} pooled stages shrink a {tuple(input_shape)} image below 1 pixel; "
                             f"use fewer model.widths or model.pool=none")
        out.append((int(width), h, w))
    return out


def activation_args(cfg: dict, default: str = "bislope") -> dict:
    """``activation=`` as builder arguments: its name and its options (e.g. spline knots).
    ``init_from`` (a file of learned initial values) is applied after the build (``train.act_init``)."""
    a = cfg.get("activation") or {"name": default}
    return {"activation": a["name"], "act_kwargs": {k: v for k, v in a.items() if k not in ("name", "init_from")}}


def adapter_args(cfg: dict) -> dict:
    ad = cfg.get("adapter") or {"name": "none"}
    return {"adapter": ad["name"], "rank": int(ad.get("rank", 0) or 0)}


def transform_args(cfg: dict) -> dict:
    t = cfg["transform"]
    return {"transform": t["name"], "transform_seed": int(t.get("seed", 0))}


def num_classes(data) -> int:
    return max(data.num_classes, 1)
