"""CIFAR-style residual networks (He et al. 2016, ResNet-(6n+2)) in three forms that differ only in
what their 3×3 convolutions are:

- ``frozen_resnet``: every conv fixed, by default the structured one (``model.conv=structured``: a
  fixed filter bank on every channel, then the transform group's channel mixing; with WHT and 3×3
  filters it runs as the bank and the WHT of its fold, ``nn.fused.bank_wht``), or seeded He-init dense
  convs (``model.conv=random``). Only per-channel parts train: the norms' affine, the PActs
  (``activation=``), optional low-rank adapters (``adapter=``), and the linear head.
- ``bn_only_resnet``: the literature's form (Frankle, Schwab & Morcos, "Training BatchNorm and Only
  BatchNorm", ICLR 2021): widths 16/32/64, random frozen convs, ReLU, only BatchNorm's affine and the
  head train.
- ``trained_resnet``: the same residual net with every conv trained, the twin at equal budget (at 8k
  trainable it is narrow: that is the comparison).

Block: h = act1(norm1(conv1(x))); out = act2(adapter(norm2(conv2(h))) + shortcut(x)). The shortcut
is the identity, or where a stage halves the map and doubles the width, the parameter-free option A
of the CIFAR ResNet paper (every other pixel, zero channels appended), so nothing fixed or trained
hides in the shortcut. Stage widths are (w, 2w, 4w), ``n = (depth - 2) / 6`` blocks each; a 3×3
stem conv, then global pooling (``model.pool``: avg, the CIFAR ResNet's, or max) and a linear head.

``model.budget`` sizes the net by whole widths or depths. A trained conv's count grows by about
w²·depth per width step, which can jump over the budget's window (at 8k, ResNet-8 with a 3-knot PAct
has 5,306 trainable at width 4 and 8,070 at width 5); ``model.fine_sizing=true`` then also tries
stage widths a few channels off (w, 2w, 4w), such as (4, 10, 20) there, and keeps the largest count within
the budget.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.models.blocks import (activation_args, adapter_args, as_image, image_shape, make_norm2d, norm_act,
                                       num_classes, transform_args)
from frozen_bench.models.budget import Layout, fit_budget, sized
from frozen_bench.models.frozen_cnn import ChannelMix, FusedFilterMix
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.adapters import make_adapter, reads_rank
from frozen_bench.nn.filters import make_filter_bank

CONVS = ("structured", "random", "trained")
POOLS = ("avg", "max")  # the global pooling before the head


class RandomConv(nn.Module):
    """A fixed 3×3 conv with seeded He-normal weights (std √(2/fan_in)): a non-persistent buffer
    regenerated from its seed on build, never a parameter; stored size: the seed."""

    def __init__(self, cin: int, cout: int, stride: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        w = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2.0 / (cin * 9))
        self.register_buffer("kernel", w, persistent=False)
        self.stride = stride

    def forward(self, x):  # (B, cin, H, W) -> (B, cout, H/s, W/s)
        return F.conv2d(x, self.kernel.to(x.dtype), stride=self.stride, padding=1)

    def macs_per_pixel(self) -> float:
        """Multiply-adds per output pixel."""
        return float(self.kernel[0].numel() * self.kernel.shape[0])

    def fixed_numel(self) -> int:
        return self.kernel.numel()

    def frozen_bytes(self) -> int:
        return 8


class StructuredConv(nn.Module):
    """A fixed 3×3 conv in structure: a fixed filter bank on every input channel (``model.filters``,
    K = ``model.n_filters`` filters), then the channel mixing ``transform`` over the C·K outputs, the
    first ``cout`` kept (``FusedFilterMix``). Stride 2 takes every other pixel of the stride-1 map,
    which is the same map as a stride-2 conv with padding 1."""

    def __init__(self, cin: int, cout: int, stride: int, seed: int, filters: str, n_filters, transform: str):
        super().__init__()
        bank = make_filter_bank(filters, 3, n_filters, seed=seed)
        self.conv = FusedFilterMix(bank, ChannelMix(transform, bank.out_channels(cin), cout, seed=seed), cin)
        self.stride = stride

    def forward(self, x):
        h = self.conv(x)  # (B, cout, H, W)
        return h[:, :, ::2, ::2].contiguous() if self.stride == 2 else h

    def macs_per_pixel(self) -> float:
        """Multiply-adds per output pixel: the fused conv's, and a stride-2 conv computes the full map (×4)."""
        return self.conv.macs_per_pixel() * self.stride ** 2


def make_conv(kind: str, cin: int, cout: int, stride: int, seed: int, filters: str, n_filters, transform: str) -> nn.Module:
    if kind == "structured":
        return StructuredConv(cin, cout, stride, seed, filters, n_filters, transform)
    if kind == "random":
        return RandomConv(cin, cout, stride, seed)
    if kind == "trained":
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    raise ValueError(f"model.conv must be one of {', '.join(CONVS)}, got {kind!r}")


class Shortcut(nn.Module):
    """Identity, or option A: every other pixel and zero channels appended (no weights at all)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.pad, self.stride = cout - cin, stride

    def forward(self, x):
        if self.stride == 2:
            x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, 0, self.pad)) if self.pad else x


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, seed: int, conv: dict, activation: str, act_kwargs: dict,
                 adapter: str, rank: int, norm: str):
        super().__init__()
        self.conv1 = make_conv(conv["kind"], cin, cout, stride, seed, conv["filters"], conv["n_filters"], conv["transform"])
        self.norm1 = make_norm2d(norm, cout)
        self.act1 = make_activation(activation, cout, **act_kwargs)
        self.conv2 = make_conv(conv["kind"], cout, cout, 1, seed + 1, conv["filters"], conv["n_filters"], conv["transform"])
        self.norm2 = make_norm2d(norm, cout)
        self.adapter = make_adapter(adapter, cout, rank)
        self.act2 = make_activation(activation, cout, **act_kwargs)
        self.shortcut = Shortcut(cin, cout, stride)

    def forward(self, x):  # (B, cin, H, W) -> (B, cout, H/s, W/s)
        h = norm_act(self.norm1, self.act1, self.conv1(x))
        h = self.adapter(self.norm2(self.conv2(h)))
        return self.act2(h + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-(6n+2) for (C, H, W) images: stem, three stages of n blocks at widths (w, 2w, 4w) (or
    ``widths``: three non-decreasing stage widths, the first w), the second and third halving the
    map, global pooling (``pool``: avg or max), linear head."""

    def __init__(self, input_shape, num_classes, depth=20, width=16, conv="structured", filters="dct", n_filters=None,
                 transform="wht", transform_seed=0, activation="relu", act_kwargs=None, adapter="none", rank=0,
                 norm="batch", pool="avg", widths=None):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"the ResNet families need image inputs (C, H, W), got shape {tuple(input_shape)}")
        depth, width = int(depth), int(width)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"model.depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
        if width < 1:
            raise ValueError(f"model.width must be >= 1, got {width}")
        if pool not in POOLS:
            raise ValueError(f"model.pool must be {' or '.join(POOLS)} (the global pooling before the head), got {pool!r}")
        widths = (width, 2 * width, 4 * width) if widths is None else tuple(int(w) for w in widths)
        if len(widths) != 3 or widths[0] != width or list(widths) != sorted(widths):
            # the option-A shortcut pads channels with zeros; it has no way to drop any
            raise ValueError(f"ResNet stage widths must be three non-decreasing widths starting at width={width}, "
                             f"got {list(widths)}")
        self.depth, self.width, self.widths, self.conv_kind, self.pool = depth, width, widths, conv, pool
        n = (depth - 2) // 6
        spec = {"kind": conv, "filters": filters, "n_filters": n_filters, "transform": transform}
        seed = int(transform_seed) * 1000  # each conv its own seed: stem, then 2 a block
        self.stem = make_conv(conv, input_shape[0], width, 1, seed, filters, n_filters, transform)
        self.stem_norm = make_norm2d(norm, width)
        self.stem_act = make_activation(activation, width, **(act_kwargs or {}))
        blocks, c = [], width
        for stage, w in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(c, w, stride, seed + 1 + 2 * len(blocks), spec, activation, act_kwargs or {},
                                    adapter, rank, norm))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        h = norm_act(self.stem_norm, self.stem_act, self.stem(as_image(x)))  # (B, w, H, W)
        h = self.blocks(h)  # (B, 4w, H/4, W/4)
        return self.head(h.mean((2, 3)) if self.pool == "avg" else h.amax((2, 3)))

    def record_metrics(self) -> dict:
        """Where the trainable parameters sit: the head's share and the per-channel share (norms,
        PActs, adapters), and the depth and width built."""
        head = sum(p.numel() for p in self.head.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.parameters() if p.requires_grad)
        convs = sum(p.numel() for m in self.modules() if isinstance(m, nn.Conv2d)
                    for p in m.parameters() if p.requires_grad)
        return {"depth": self.depth, "width": self.width, "trainable_head_share": head / max(total, 1),
                "trainable_conv_share": convs / max(total, 1),
                "trainable_per_channel_share": (total - head - convs) / max(total, 1)}


def _args(cfg: dict, data, conv: str, frozen_parts: bool) -> dict:
    """Builder arguments. Random fixed weights are drawn from the run's seed (a random network is
    one draw of many, as in the literature), offset by ``transform.seed`` where the mixing is read;
    ``frozen_parts``: the transform, PAct and adapter groups are read (``frozen_resnet``)."""
    m = cfg["model"]
    kw = dict(input_shape=image_shape(data.input_shape), num_classes=num_classes(data), depth=int(m.get("depth", 20)),
              width=int(m.get("width", 16)), conv=conv, filters=m.get("filters", "dct"), n_filters=m.get("n_filters"),
              norm=m.get("norm", "batch"), pool=m.get("pool", "avg"), activation="relu", act_kwargs={}, adapter="none", rank=0, transform="wht")
    if frozen_parts:
        kw.update(**activation_args(cfg, default="relu"), **adapter_args(cfg))
        if conv == "structured":
            kw.update(transform_args(cfg))
    kw["transform_seed"] = 1009 * int(cfg.get("seed", 0)) + int(kw.get("transform_seed", 0))
    return kw


def _layouts(kw: dict, knobs: tuple[str, ...]) -> list[Layout]:
    """``model.budget``'s layouts: the first knob (``depth`` or ``width``) grown with the other as
    configured; where that cannot land in the window (a trained net's width moves its count by
    ~1k·w² at depth 20), the first knob at neighbouring values of the other, then the second knob."""
    d, w = kw["depth"], kw["width"]
    # a rank-r adapter needs r channels: no layout narrower than that (it could only fail to build,
    # "adapter.rank is larger than the width", where a wider one may fit)
    floor = max(1, int(kw.get("rank") or 0)) if reads_rank(kw.get("adapter", "none")) else 1
    by_depth = lambda width: Layout(f"depth 6n+2 at width {width}",  # noqa: E731
                                    lambda n: {**kw, "width": width, "depth": 6 * n + 2}, lo=1, hi=400)
    by_width = lambda depth: Layout(f"width at depth {depth}",  # noqa: E731
                                    lambda x: {**kw, "depth": depth, "width": x}, lo=floor, hi=2048)
    if knobs[0] == "depth":
        return ([by_depth(w)] + [by_depth(x) for x in range(w - 1, max(w // 2, floor) - 1, -1)]
                + [by_width(d)])
    return [by_width(x) for x in dict.fromkeys((d, 14, 8, 26, 32, 44, 56))] + [by_depth(w)]


def _stage_neighbours(kw: dict) -> list[dict]:
    """Stage widths a few channels off (w, 2w, 4w): the first stage w or w+1, the second up to 2
    more, the third up to 4 more, never narrowing from one stage to the next (``model.fine_sizing``)."""
    w = kw["width"]
    return [{**kw, "width": a, "widths": (a, b, c)} for a in (w, w + 1) for b in range(2 * w, 2 * w + 3)
            for c in range(4 * w, 4 * w + 5) if a <= b <= c and (a, b, c) != (w, 2 * w, 4 * w)]


def _sized(cfg: dict, kw: dict, knobs: tuple[str, ...]) -> ResNet:
    refine = _stage_neighbours if cfg["model"].get("fine_sizing", False) else None
    fit = lambda family, cls, k, budget: fit_budget(family, cls, _layouts(k, knobs), budget, refine=refine)  # noqa: E731
    return sized(cfg, ResNet, kw, fit, shows=("depth", "width", "widths"))


def _knobs(cfg: dict, default: str) -> tuple[str, ...]:
    first = cfg["model"].get("budget_knob", default)
    if first not in ("depth", "width"):
        raise ValueError(f"model.budget_knob must be depth or width, got {first!r}")
    return (first, "width" if first == "depth" else "depth")


def build_frozen(cfg: dict, data) -> ResNet:
    conv = cfg["model"].get("conv", "structured")
    if conv not in ("structured", "random"):
        raise ValueError(f"model=frozen_resnet: model.conv must be structured or random (trained convs: "
                         f"model=trained_resnet), got {conv!r}")
    return _sized(cfg, _args(cfg, data, conv, True), _knobs(cfg, "depth"))


def build_bn_only(cfg: dict, data) -> ResNet:
    return _sized(cfg, _args(cfg, data, "random", False), _knobs(cfg, "depth"))


def build_trained(cfg: dict, data) -> ResNet:
    kw = _args(cfg, data, "trained", False)
    a = activation_args(cfg, default="relu")
    kw.update(activation=a["activation"], act_kwargs=a["act_kwargs"])
    return _sized(cfg, kw, _knobs(cfg, "width"))
