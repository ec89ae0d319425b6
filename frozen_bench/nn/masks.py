"""Trainable binary masks over frozen weights (Csordás et al. 2021, "Are Neural Nets Modular?").

Each frozen weight w gets a logit l. In training the mask is a Gumbel-sigmoid sample made hard
with the straight-through estimator:

    s = sigmoid((l + g) / τ),  g = -log(log U1 / log U2),  U1, U2 ~ U(0, 1)  (logistic noise)
    m = (s > 0.5) + s - s.detach()     # forward: exactly 0/1; backward: dm/dl = ds/dl

At evaluation the mask is deterministic: m = (l ≥ 0).

The forum post's logits never moved because the mask left the autograd graph (the forward ran under
``no_grad``, the masked weight was re-wrapped as a new ``nn.Parameter``). Here the masked weight
is never stored: ``MaskedLinear.forward`` computes ``F.linear(x, W.detach() * m, b)`` on every
call, so the loss reaches the logits through m, and W (frozen) gets no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.nn.frozen import Frozen


def gumbel_sigmoid_ste(logits: torch.Tensor, tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Hard 0/1 sample whose gradient is that of the soft Gumbel-sigmoid sample."""
    u1 = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(1e-10, 1 - 1e-10)
    u2 = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(1e-10, 1 - 1e-10)
    noise = -torch.log(torch.log(u1) / torch.log(u2))  # difference of two Gumbel samples
    soft = torch.sigmoid((logits + noise) / tau)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + (soft - soft.detach())  # (s - s) is exactly 0: the forward value is exactly 0/1


class WeightMask(nn.Module):
    """Per-weight mask logits; ``param_group='mask'`` gives them their own lr (``optim.mask_lr``)."""

    param_group = "mask"

    def __init__(self, shape, init: float = 2.0, tau: float = 1.0):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"mask temperature tau must be > 0, got {tau}")
        self.logits = nn.Parameter(torch.full(tuple(shape), float(init)))
        self.tau = float(tau)

    def forward(self) -> torch.Tensor:
        if self.training:
            return gumbel_sigmoid_ste(self.logits, self.tau)
        return (self.logits >= 0).to(self.logits.dtype)

    def density(self) -> float:
        """Fraction of weights kept by the deterministic (evaluation) mask."""
        return float((self.logits.detach() >= 0).float().mean())


class MaskedLinear(nn.Module):
    """A frozen Linear layer whose weights are gated by a trainable mask; the bias stays frozen
    and unmasked (as in the paper's weight masks)."""

    def __init__(self, linear: nn.Linear, init: float = 2.0, tau: float = 1.0):
        super().__init__()
        self.frozen = Frozen(linear)
        self.mask = WeightMask(linear.weight.shape, init, tau)

    def forward(self, x):
        lin = self.frozen.module
        w = lin.weight.detach() * self.mask()  # (out, in); gradient reaches only the logits
        b = lin.bias.detach() if lin.bias is not None else None
        return F.linear(x, w, b)

    def macs_per_output(self) -> int:
        """Multiply-adds per output value (``train.compute``): a masked dense row, in_features of them."""
        return self.frozen.module.in_features


def mask_linears(module: nn.Module, init: float = 2.0, tau: float = 1.0) -> list[str]:
    """Replace every ``nn.Linear`` inside ``module`` with a ``MaskedLinear`` in place, freeze all other
    parameters; returns the dotted names of the masked layers."""
    for p in module.parameters():
        p.requires_grad_(False)
    names = []
    for name, child in list(module.named_modules()):
        for cname, c in list(child.named_children()):
            if isinstance(c, nn.Linear):
                setattr(child, cname, MaskedLinear(c, init, tau))
                names.append(f"{name}.{cname}" if name else cname)
    return names
