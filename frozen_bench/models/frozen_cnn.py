"""The frozen filter-bank CNN: per stage, a fixed spatial filter bank on every channel, a fixed
channel mixing, a per-channel norm and PAct, an optional low-rank 1×1 adapter, then pooling.

Stage i: (B, C, H, W) -filters-> (B, C·K, H, W) -transform over channels, keep the first
``widths[i]`` outputs-> (B, w_i, H, W) -norm, PAct, adapter-> -pool-> (B, w_i, H/2, W/2).
The channel mixing is ``make_transform(transform.name, C·K)`` applied with channels last; keeping
its first w_i outputs is a fixed projection (for WHT/DCT the low-sequency part). If C·K < w_i the
input is zero-padded first. Only norms, PActs, adapters and the head train.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.models.blocks import (MaxPool2x2, as_image, image_shape, activation_args, adapter_args, make_head, make_norm2d,
                                       bn_eval_affine, bn_eval_parts, num_classes, stage_shapes, stage_tail, transform_args)
from frozen_bench.models.budget import size_stages, sized
from frozen_bench.nn import fast, fused
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.adapters import make_adapter
from frozen_bench.nn.derived import derived
from frozen_bench.nn.filters import FixedFilterBank, make_filter_bank
from frozen_bench.nn.matrices import sylvester_hadamard
from frozen_bench.nn.transforms import WHT, make_transform


class ChannelMix(nn.Module):
    """A fixed transform over the channel axis of (B, C, H, W), truncated/padded to ``width``."""

    def __init__(self, name: str, in_channels: int, width: int, seed: int = 0):
        super().__init__()
        self.in_channels, self.width = in_channels, width
        self.dim = max(in_channels, width)
        self.mix = make_transform(name, self.dim, seed=seed)

    def forward(self, x):  # (B, C, H, W)
        h = x.movedim(1, -1)  # (B, H, W, C)
        if self.dim > self.in_channels:
            h = F.pad(h, (0, self.dim - self.in_channels))
        h = self.mix(h)[..., : self.width]  # (B, H, W, width) fixed
        return h.movedim(-1, 1)


class FusedFilterMix(nn.Module):
    """The filter bank followed by the channel mixing, folded into one fixed dense k×k kernel.

    Both steps are fixed and linear, so their composition is a single (width, C, k, k) kernel: the
    same map, computed once at build from the bank and the transform (a non-persistent buffer, never
    a parameter), applied as one dense conv instead of a depthwise conv, a channels-last transform
    and a truncation (several times faster on CPU). Stored size: that of its recipe (the bank's and
    the transform's seeds, 0 for dct/hadamard/wht); in-memory size: the kernel (``fixed_numel``).

    With WHT mixing and 3×3 filters, the CPU kernels compute the map in its own structure instead
    (``fused.bank_wht``: the bank, then the width-n2 WHT of its fold, n2 = next_pow2(width)): the same
    map in 18CK + n2·log2(n2) FLOPs a pixel against the dense kernel's 18·width·C, in training and at
    evaluation, where it pays: where it makes under half the dense FLOPs (the dense conv runs at
    about twice the kernel's FLOP rate here, ``scripts/bench_bank_wht.py``; a one-channel first
    stage, 9 filters into 16-32 channels, saves too little and stays dense). ``structured`` holds
    its (K, 9) taps, scaled by the WHT's 1/√N, and its FLOPs a pixel, or None.
    """

    def __init__(self, filters: FixedFilterBank, mix: ChannelMix, in_channels: int):
        super().__init__()
        ck = filters.out_channels(in_channels)
        with torch.no_grad():
            m = mix(torch.eye(ck).view(ck, ck, 1, 1)).flatten(1)  # (C*K, width): row c*K+j = image of channel c*K+j
            m = m.view(in_channels, filters.n_filters, mix.width)  # (C, K, width)
            bank = filters.bank[:, 0].to(m.dtype)  # (K, k, k)
            kernel = torch.einsum("cjo,jxy->ocxy", m, bank)  # (width, C, k, k)
        self.register_buffer("kernel", kernel.contiguous(), persistent=False)
        self._bytes = filters.frozen_bytes() + mix.mix.frozen_bytes()
        self.structured = _wht_structure(filters, mix, in_channels, kernel)
        # FLOPs a pixel: the structured map's against half the dense conv's 18·w·C
        self.prefers_structure = (self.structured is not None
                                  and self.structured["flops"] < 9 * kernel.shape[0] * in_channels)

    def forward(self, x):  # (B, C, H, W) -> (B, width, H, W)
        if self.uses_structure(x):
            return self.structured_map(x)
        return F.conv2d(x, self.kernel.to(x.dtype), padding="same")

    def uses_structure(self, x) -> bool:
        """Whether ``forward`` runs the structured kernel on x."""
        return self.prefers_structure and self.structure_applies(x)

    def structure_applies(self, x) -> bool:
        """Whether the structured kernel can run on x (built, CPU kernels, a plain float tensor)."""
        return (self.structured is not None and x.dtype in self.structured["taps"]
                and fused.bank_wht_applies(x, self.structured["taps"][x.dtype][0]))

    def structured_map(self, x):
        """The map by the structured kernel (callers check ``structure_applies``)."""
        taps, flipped = self.structured["taps"][x.dtype]
        return fused.bank_wht(x, taps, flipped, self.structured["n2"], self.kernel.shape[0])

    def macs_per_pixel(self) -> float:
        """Multiply-adds per output pixel (``train.compute``) in the form the model takes: the bank and
        the butterflies (each add counted as one) where it prefers the structure, else the dense kernel."""
        return self.structured["flops"] / 2 if self.prefers_structure else float(self.kernel[0].numel() * self.kernel.shape[0])

    def fixed_numel(self) -> int:
        return self.kernel.numel()

    def frozen_bytes(self) -> int:
        return self._bytes


def _wht_structure(filters: FixedFilterBank, mix: ChannelMix, in_channels: int, kernel: torch.Tensor) -> dict | None:
    """The structured form of a WHT stage's fixed conv (see ``FusedFilterMix``), or None where there is
    none (another transform or kernel size). Built from the bank and checked against the dense kernel:
    the first n2 outputs of a Sylvester WHT of width N are the width-n2 WHT of the input folded to n2."""
    if not isinstance(mix.mix, WHT) or filters.kernel_size != 3:
        return None
    K, w, N = filters.n_filters, mix.width, mix.mix.out_dim
    n2 = fast.next_power_of_two(w)
    taps = filters.bank[:, 0].double().reshape(K, 9) / math.sqrt(N)  # (K, 9), the WHT's scale folded in
    fold = torch.zeros(in_channels, K, n2, dtype=torch.float64)  # bank output (c, j) -> its folded channel
    idx = torch.arange(in_channels * K)
    fold.view(-1, n2)[idx, idx % n2] = 1
    dense = torch.einsum("cjp,po,jt->oct", fold, sylvester_hadamard(n2)[:, :w], taps).reshape(kernel.shape)
    if not torch.allclose(dense, kernel.double(), atol=1e-5):
        raise AssertionError(f"the structured WHT stage ({in_channels} -> {w}) does not compute its dense kernel")
    return {"n2": n2, "flops": 18 * in_channels * K + n2 * math.log2(max(n2, 2)),  # bank, then butterflies
            "taps": {dt: (taps.to(dt).contiguous(), taps.flip(1).to(dt).contiguous())
                     for dt in (torch.float32, torch.float64)}}


class FrozenStage(nn.Module):
    def __init__(self, in_channels, width, filters, kernel_size, n_filters, transform, seed,
                 activation, act_kwargs, adapter, rank, norm, pool, fused=False):
        super().__init__()
        bank = make_filter_bank(filters, kernel_size, n_filters, seed=seed)
        mix = ChannelMix(transform, bank.out_channels(in_channels), width, seed=seed)
        if fused:  # one fixed dense conv, the same map
            self.filters, self.mix = FusedFilterMix(bank, mix, in_channels), nn.Identity()
        else:
            self.filters, self.mix = bank, mix
        self.norm = make_norm2d(norm, width)
        self.act = make_activation(activation, width, **act_kwargs)
        self.adapter = make_adapter(adapter, width, rank)
        if pool not in ("max", "avg", "none"):
            raise ValueError(f"model.pool must be max, avg or none, got {pool!r}")
        self.pool = {"max": MaxPool2x2, "avg": lambda: nn.AvgPool2d(2), "none": nn.Identity}[pool]()

    def forward(self, x):  # (B, C, H, W)
        if self._folds_norm(x):  # evaluation, no graph: BatchNorm folded into the fixed kernel
            kernel, shift = self._folded(x)
            h = F.conv2d(x, kernel, padding="same")  # (B, w, H, W) = norm(fixed conv(x)) - shift
            # the shift rides in the tail's pass (a conv bias would cost one more pass over the map)
            return stage_tail(None, self.act, self.adapter, self.pool, h, shift)  # (B, w, H/2, W/2)
        # (B, w, H, W) fixed, then normalized, activated, adapted and pooled
        return stage_tail(self.norm, self.act, self.adapter, self.pool, self.mix(self.filters(x)))

    def _folds_norm(self, x) -> bool:
        # not where the structured conv runs: its WHT comes after the bank, so the scale goes to the tail
        n = self.norm
        return (not self.training and isinstance(self.filters, FusedFilterMix) and not self.filters.uses_structure(x)
                and isinstance(n, nn.BatchNorm2d)
                and n.running_mean is not None and not (torch.is_grad_enabled() and n.weight is not None
                                                        and n.weight.requires_grad))

    def _folded(self, x):
        """(kernel·s, t) with BatchNorm's eval map s·h + t (``bn_eval_affine``): the scale folded into
        the fixed conv, the shift left to the stage's tail (the same map); rebuilt when a statistic or
        parameter changed."""
        def build():
            s, t = bn_eval_affine(self.norm)
            k = self.filters.kernel.double() * s.view(-1, 1, 1, 1)
            return k.to(x.dtype).contiguous(), t.to(x.dtype)
        return derived(self, "fold", bn_eval_parts(self.norm), x, build)


class FrozenCNN(nn.Module):
    def __init__(self, input_shape, num_classes, widths=(32, 64, 128), filters="dct", kernel_size=3,
                 n_filters=None, transform="wht", transform_seed=0, activation="bislope", act_kwargs=None,
                 adapter="none", rank=0, norm="batch", pool="max", head="linear", head_hidden=64,
                 global_pool=False, dropout=0.0, fused=False):
        super().__init__()
        shapes = stage_shapes("frozen_cnn", input_shape, widths, pool, "model=frozen_mlp")
        c, stages = input_shape[0], []
        for i, (width, h, w) in enumerate(shapes):
            stages.append(FrozenStage(c, width, filters, kernel_size, n_filters, transform, transform_seed + i,
                                      activation, act_kwargs or {}, adapter, rank, norm, pool, fused))
            c = width
        self.stages = nn.Sequential(*stages)
        self.global_pool = global_pool
        feat = c if global_pool else c * h * w
        self.head = make_head(head, feat, num_classes, head_hidden, dropout)

    def features(self, x):
        h = self.stages(as_image(x))  # (B, w_last, h, w)
        return h.mean((2, 3)) if self.global_pool else h.flatten(1)

    def forward(self, x):
        return self.head(self.features(x))


def build(cfg: dict, data) -> FrozenCNN:
    m = cfg["model"]
    kw = dict(input_shape=image_shape(data.input_shape), num_classes=num_classes(data), widths=[int(w) for w in m.get("widths", (32, 64, 128))],
              filters=m.get("filters", "dct"), kernel_size=int(m.get("kernel_size", 3)), n_filters=m.get("n_filters"),
              **transform_args(cfg), **activation_args(cfg), **adapter_args(cfg), norm=m.get("norm", "batch"),
              pool=m.get("pool", "max"), head=m.get("head", "linear"), head_hidden=int(m.get("head_hidden", 64)),
              global_pool=bool(m.get("global_pool", False)), dropout=float(m.get("dropout", 0.0)), fused=bool(m.get("fused", True)))
    return sized(cfg, FrozenCNN, kw, size_stages, shows=("widths", "global_pool"))
