"""The trained twins of ``frozen_cnn``: the same stage layout with the fixed parts made trainable.

Stage i: (B, C, H, W) -conv k×k (trained)-> (B, w_i, H, W) -norm, activation-> -2×2 pool->.
``trained_cnn`` uses one dense k×k conv per stage (the frozen CNN's filter bank + channel mixing,
trained); ``separable_cnn`` a depthwise k×k conv then a pointwise 1×1 conv (MobileNet's block,
fewer weights per channel). Heads, norms, pooling and activations are the frozen CNN's, so a
comparison at equal widths isolates what freezing the convolutions costs or buys.
"""

from __future__ import annotations

from torch import nn

from frozen_bench.models.blocks import (MaxPool2x2, as_image, image_shape, activation_args, make_head, make_norm2d,
                                       num_classes, stage_shapes, stage_tail)
from frozen_bench.models.budget import size_stages, sized
from frozen_bench.nn.activations import make_activation

POOLS = {"max": lambda k: MaxPool2x2(), "avg": nn.AvgPool2d}


class TrainedStage(nn.Module):
    def __init__(self, in_channels, width, kernel_size, separable, activation, act_kwargs, norm, pool):
        super().__init__()
        pad = kernel_size // 2
        bias = norm != "batch"  # BatchNorm's shift replaces the conv bias
        if separable:
            self.conv = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, kernel_size, padding=pad, groups=in_channels, bias=False),
                nn.Conv2d(in_channels, width, 1, bias=bias))
        else:
            self.conv = nn.Conv2d(in_channels, width, kernel_size, padding=pad, bias=bias)
        self.norm = make_norm2d(norm, width)
        self.act = make_activation(activation, width, **act_kwargs)
        if pool not in ("max", "avg", "none"):
            raise ValueError(f"model.pool must be max, avg or none, got {pool!r}")
        self.pool = POOLS[pool](2) if pool != "none" else nn.Identity()

    def forward(self, x):  # (B, C, H, W)
        return stage_tail(self.norm, self.act, None, self.pool, self.conv(x))  # (B, w, H/2, W/2)


class TrainedCNN(nn.Module):
    def __init__(self, input_shape, num_classes, widths=(16, 40), kernel_size=3, separable=False,
                 activation="bislope", act_kwargs=None, norm="batch", pool="max", global_pool=False,
                 head="linear", head_hidden=64, dropout=0.0):
        super().__init__()
        name = "separable_cnn" if separable else "trained_cnn"
        c, stages = input_shape[0], []
        for width, h, w in stage_shapes(name, input_shape, widths, pool, "model=dense_mlp"):
            stages.append(TrainedStage(c, width, int(kernel_size), separable, activation, act_kwargs or {}, norm, pool))
            c = width
        self.stages = nn.Sequential(*stages)
        self.global_pool = global_pool
        self.head = make_head(head, c if global_pool else c * h * w, num_classes, head_hidden, dropout)

    def forward(self, x):
        h = self.stages(as_image(x))  # (B, w_last, h, w)
        return self.head(h.mean((2, 3)) if self.global_pool else h.flatten(1))


def _build(cfg: dict, data, separable: bool) -> TrainedCNN:
    m = cfg["model"]
    kw = dict(input_shape=image_shape(data.input_shape), num_classes=num_classes(data), widths=[int(w) for w in m.get("widths", (16, 40))],
              kernel_size=int(m.get("kernel_size", 3)), separable=separable, **activation_args(cfg),
              norm=m.get("norm", "batch"), pool=m.get("pool", "max"), global_pool=bool(m.get("global_pool", False)),
              head=m.get("head", "linear"), head_hidden=int(m.get("head_hidden", 64)), dropout=float(m.get("dropout", 0.0)))
    return sized(cfg, TrainedCNN, kw, size_stages, shows=("widths", "global_pool"))


def build(cfg: dict, data) -> TrainedCNN:
    return _build(cfg, data, separable=False)


def build_separable(cfg: dict, data) -> TrainedCNN:
    return _build(cfg, data, separable=True)
