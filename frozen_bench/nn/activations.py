"""Per-channel parameterized activations (PAct) and the plain ones they are compared with.

``make_activation(name, channels)`` returns a module acting on ``(B, C, ...)`` with one set of
parameters per channel C (dim 1). Learned activations start ReLU-like (leaky), as the blueprint
advises, so early training is not chaotic:

============  ===================================  ==============  =============================
name          function                             params/channel  init
============  ===================================  ==============  =============================
relu          max(x, 0)                            0
leaky_relu    max(x, 0.01 x)                       0
prelu         max(x, 0) + a min(x, 0)              1               a = 0.25 (torch default)
bislope       a x⁺ + b x⁻ + c                      3               a=1, b=0.01, c=0
pwl3          3 slopes, 2 learned knots            5               slopes (0.01, 1, 1), knots (0, 1)
spline        monotone cubic (PCHIP) through K     K (default 5)   identity on [-3, 3]
              control points on a fixed grid
glu           x · σ(α x + β)                       2               α=1, β=0 (SiLU)
============  ===================================  ==============  =============================
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.nn import fused
from frozen_bench.registry import Registry

def _per_channel(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a (C,) parameter against x of shape (B, C, ...)."""
    return p.view(1, -1, *([1] * (x.ndim - 2)))


class PAct(nn.Module):
    """Marker base class: its parameters form the optimizer's 'activation' group."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class Identity(PAct):
    """No nonlinearity: the control that turns a frozen network into a linear probe."""

    def forward(self, x):
        return x


class ReLU(PAct):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(PAct):
    def __init__(self, channels: int, negative_slope: float = 0.01):
        super().__init__(channels)
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class PReLU(PAct):
    def __init__(self, channels: int, init: float = 0.25):
        super().__init__(channels)
        self.a = nn.Parameter(torch.full((channels,), init))

    def forward(self, x):
        return F.prelu(x, self.a)


class BiSlope(PAct):
    """PAct A: f(x) = a·x⁺ + b·x⁻ + c."""

    def __init__(self, channels: int, init_pos: float = 1.0, init_neg: float = 0.01, init_bias: float = 0.0):
        super().__init__(channels)
        self.a = nn.Parameter(torch.full((channels,), init_pos))
        self.b = nn.Parameter(torch.full((channels,), init_neg))
        self.c = nn.Parameter(torch.full((channels,), init_bias))

    def forward(self, x):
        return fused.bislope(x, self.a, self.b, self.c)  # one-pass kernel on CPU, else the expression


class PWL3(PAct):
    """PAct B: continuous piecewise linear with 3 slopes and 2 learned knots.

    f(x) = s0·min(x-t1, 0) + s1·(clamp(x, t1, t2) - t1) + s2·max(x-t2, 0), with (t1, t2) the
    sorted knots, so f(t1) = 0 and the knots may cross during training without breaking f.
    """

    def __init__(self, channels: int, slopes=(0.01, 1.0, 1.0), knots=(0.0, 1.0)):
        super().__init__(channels)
        self.slopes = nn.Parameter(torch.tensor(slopes, dtype=torch.float32).repeat(channels, 1))  # (C, 3)
        self.knots = nn.Parameter(torch.tensor(knots, dtype=torch.float32).repeat(channels, 1))  # (C, 2)

    def forward(self, x):
        k = torch.sort(self.knots, dim=1).values
        t1, t2 = _per_channel(k[:, 0], x), _per_channel(k[:, 1], x)
        s0, s1, s2 = (_per_channel(self.slopes[:, i], x) for i in range(3))
        return s0 * torch.clamp(x - t1, max=0) + s1 * (torch.minimum(torch.maximum(x, t1), t2) - t1) + s2 * torch.clamp(x - t2, min=0)


class MonotoneSpline(PAct):
    """PAct C: monotone cubic Hermite spline through K control points per channel.

    Knot positions are a fixed grid on [lo, hi]; the values are y0 + cumsum(softplus(δ)), so they
    increase strictly whatever the parameters are, and the knot derivatives use the Fritsch–Carlson
    (PCHIP) harmonic mean, which keeps each cubic piece monotone: monotone by construction.
    Outside [lo, hi] the spline continues linearly with its end slopes.
    """

    def __init__(self, channels: int, knots: int = 5, lo: float = -3.0, hi: float = 3.0):
        super().__init__(channels)
        if knots < 3:
            raise ValueError(f"spline needs at least 3 knots, got {knots}")
        self.register_buffer("grid", torch.linspace(lo, hi, knots), persistent=False)
        h = (hi - lo) / (knots - 1)
        # identity at init: y_k = x_k, i.e. softplus(δ) = h
        self.y0 = nn.Parameter(torch.full((channels,), lo))
        self.delta = nn.Parameter(torch.full((channels, knots - 1), float(torch.log(torch.expm1(torch.tensor(h))))))

    def values(self) -> torch.Tensor:
        """(C, K) control-point values, strictly increasing along K."""
        inc = F.softplus(self.delta)
        return torch.cat([self.y0[:, None], self.y0[:, None] + torch.cumsum(inc, dim=1)], dim=1)

    def slopes(self, y: torch.Tensor) -> torch.Tensor:
        h = self.grid[1] - self.grid[0]
        d = (y[:, 1:] - y[:, :-1]) / h  # (C, K-1) secant slopes, > 0
        inner = 2 * d[:, :-1] * d[:, 1:] / (d[:, :-1] + d[:, 1:])  # harmonic mean (equal spacing)
        return torch.cat([d[:, :1], inner, d[:, -1:]], dim=1)  # (C, K)

    def forward(self, x):
        y = self.values()
        m = self.slopes(y)
        grid = self.grid
        K = grid.numel()
        h = grid[1] - grid[0]
        # move channels last to gather per-channel knot data: (..., C)
        xc = x.movedim(1, -1)
        idx = torch.clamp(torch.floor((xc - grid[0]) / h), 0, K - 2).long()  # (..., C)
        ch = torch.arange(self.channels, device=x.device).expand_as(idx)
        y0, y1 = y[ch, idx], y[ch, idx + 1]
        m0, m1 = m[ch, idx], m[ch, idx + 1]
        t = (xc - grid[idx]) / h
        t_in = t.clamp(0, 1)
        t2, t3 = t_in * t_in, t_in * t_in * t_in
        inside = (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t_in) * h * m0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * h * m1
        # linear extension outside the grid
        out = torch.where(t < 0, y0 + (t * h) * m0, torch.where(t > 1, y1 + ((t - 1) * h) * m1, inside))
        return out.movedim(-1, 1)


class GLU(PAct):
    """PAct D: x · σ(α x + β)."""

    def __init__(self, channels: int, init_alpha: float = 1.0, init_beta: float = 0.0):
        super().__init__(channels)
        self.alpha = nn.Parameter(torch.full((channels,), init_alpha))
        self.beta = nn.Parameter(torch.full((channels,), init_beta))

    def forward(self, x):
        return x * torch.sigmoid(_per_channel(self.alpha, x) * x + _per_channel(self.beta, x))


ACTIVATIONS = Registry("activation")
ACTIVATIONS.add("identity", Identity)
ACTIVATIONS.add("relu", ReLU)
ACTIVATIONS.add("leaky_relu", LeakyReLU)
ACTIVATIONS.add("prelu", PReLU)
ACTIVATIONS.add("bislope", BiSlope)
ACTIVATIONS.add("pwl3", PWL3)
ACTIVATIONS.add("spline", MonotoneSpline)
ACTIVATIONS.add("glu", GLU)


def make_activation(name: str, channels: int, **kwargs) -> PAct:
    return ACTIVATIONS.build(name, channels, **kwargs)
