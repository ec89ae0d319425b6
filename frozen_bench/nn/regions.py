"""Exact linear pieces of a 1-D piecewise-linear network on an interval.

For a network x ↦ y built from affine layers and piecewise-linear activations with known kinks,
the restriction to [lo, hi] is continuous and piecewise linear. We carry the *exact* hidden state
at a sorted set of points x_0 = lo < … < x_P = hi, keeping the invariant that every layer seen so
far is affine between consecutive points. Affine layers keep the invariant. Before an activation
with per-channel kinks t (ReLU family: t = 0; pwl3: its two learned knots), each channel's
pre-activation z_c is affine on [x_i, x_{i+1}], so it crosses t at exactly
x* = x_i + (t − z_c(x_i)) / (z_c(x_{i+1}) − z_c(x_i)) · (x_{i+1} − x_i), which becomes a new point
(its state is the linear interpolation, exact on an affine piece). No finite differences over a
sampling grid: the breakpoints come from the weights. Finally adjacent pieces with equal output
slope (a kink whose effect cancels downstream) are merged, so the count is of the function's
linear regions, not of activation patterns. Computed in float64 on a copy of the model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from frozen_bench.nn.activations import BiSlope, LeakyReLU, PAct, PReLU, PWL3, ReLU
from frozen_bench.nn.frozen import Frozen
from frozen_bench.nn.norms import LightNorm
from frozen_bench.nn.transforms import FixedTransform

_ZERO_KINK = (ReLU, LeakyReLU, PReLU, BiSlope, nn.ReLU, nn.LeakyReLU, nn.PReLU)
_AFFINE = (nn.Linear, FixedTransform, LightNorm, nn.Identity, nn.Dropout, nn.Flatten)
SUPPORTED = "Linear, fixed transforms (wht/dct/fft/random_orth/identity), light norm, dropout, relu, leaky_relu, prelu, bislope, pwl3"


def _flatten(model: nn.Module) -> list[nn.Module]:
    if hasattr(model, "sequential_layers"):
        mods = list(model.sequential_layers())
    elif isinstance(model, nn.Sequential):
        mods = list(model)
    else:
        raise ValueError(f"linear_regions needs an nn.Sequential or a model with sequential_layers(); got {type(model).__name__}")
    out = []
    for m in mods:
        out.extend(_flatten(m) if isinstance(m, nn.Sequential) else [m])
    return out


def _kinks(m: nn.Module, channels: int) -> torch.Tensor | None:
    """(C, K) kink positions of an activation, or None for an affine layer."""
    inner = m.module if isinstance(m, Frozen) else m
    if isinstance(inner, PWL3):
        return torch.sort(inner.knots.detach(), dim=1).values.double()
    if isinstance(inner, _ZERO_KINK):
        return torch.zeros(channels, 1, dtype=torch.float64)
    if isinstance(inner, _AFFINE):
        return None
    if isinstance(inner, PAct):
        raise ValueError(f"linear_regions: activation {type(inner).__name__} is not piecewise linear (spline/glu are smooth); "
                         f"use one of relu, leaky_relu, prelu, bislope, pwl3")
    raise ValueError(f"linear_regions: cannot trace {type(inner).__name__}; supported layers: {SUPPORTED}")


def _split(xs: torch.Tensor, h: torch.Tensor, kinks: torch.Tensor, min_gap: float):
    """Insert the points where any channel of h crosses one of its kinks."""
    z0, z1 = h[:-1, :, None], h[1:, :, None]  # (P-1, C, 1)
    t = kinks[None]  # (1, C, K)
    cross = (z0 - t) * (z1 - t) < 0  # strict sign change inside the interval
    if not cross.any():
        return xs, h
    frac = ((t - z0) / (z1 - z0)).expand_as(cross)[cross]  # (n,) in (0, 1)
    seg = torch.nonzero(cross)[:, 0]
    new_x = xs[seg] + frac * (xs[seg + 1] - xs[seg])
    new_h = h[seg] + frac[:, None] * (h[seg + 1] - h[seg])
    allx, allh = torch.cat([xs, new_x]), torch.cat([h, new_h])
    order = torch.argsort(allx)
    allx, allh = allx[order], allh[order]
    keep = torch.ones_like(allx, dtype=torch.bool)
    keep[1:] = (allx[1:] - allx[:-1]) > min_gap  # coincident kinks of several channels: one point
    if not keep[-1]:  # a kink at hi itself: keep hi, drop the kink
        keep[-1], keep[-2] = True, len(keep) == 2
    return allx[keep], allh[keep]


@torch.no_grad()
def linear_pieces(model: nn.Module, lo: float, hi: float, rtol: float = 1e-6) -> list[tuple[float, float, float, float]]:
    """The maximal linear pieces of ``model`` on [lo, hi] as (x0, x1, y0, y1), left to right."""
    if not hi > lo:
        raise ValueError(f"linear_regions needs lo < hi, got [{lo}, {hi}]")
    net = copy.deepcopy(model).double().eval()
    layers = _flatten(net)
    xs = torch.tensor([lo, hi], dtype=torch.float64)
    h = xs[:, None]  # (P, 1): the input
    min_gap = 1e-12 * (hi - lo)
    for m in layers:
        k = _kinks(m, h.shape[1])
        if k is not None:
            if k.shape[0] != h.shape[1]:
                raise ValueError(f"linear_regions: {type(m).__name__} has {k.shape[0]} channels but receives {h.shape[1]}")
            xs, h = _split(xs, h, k, min_gap)
        h = m(h)
    if h.ndim != 2 or h.shape[1] != 1:
        raise ValueError(f"linear_regions needs a model mapping (N, 1) to (N, 1); its output has shape {tuple(h.shape)}")
    y = h[:, 0]
    slope = (y[1:] - y[:-1]) / (xs[1:] - xs[:-1])
    pieces = []
    start = 0
    for i in range(1, len(slope) + 1):
        if i == len(slope) or abs(slope[i] - slope[start]) > rtol * max(1.0, abs(slope[i]), abs(slope[start])):
            pieces.append((float(xs[start]), float(xs[i]), float(y[start]), float(y[i])))
            start = i
    return pieces


def linear_regions(model: nn.Module, lo: float, hi: float) -> int:
    """Exact number of linear regions of a 1-D piecewise-linear network on [lo, hi]."""
    return len(linear_pieces(model, lo, hi))


def breakpoints(model: nn.Module, lo: float, hi: float) -> list[float]:
    """Interior region boundaries on [lo, hi]."""
    return [p[0] for p in linear_pieces(model, lo, hi)[1:]]
