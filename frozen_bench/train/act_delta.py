"""Sparse PAct deltas: an L1 penalty on each activation's parameters minus their initial values.

``+optim.act_delta_l1=λ`` (opt-in, read with ``.get``; absent = 0, so the records of runs without
it keep their signatures) adds ``λ · Σ |θ − θ₀|`` over every PAct parameter θ (θ₀ its value when
the model was built) to the training loss: most channels are pushed to keep their initial,
leaky-ReLU-like shape and only the channels that pay for themselves move.

Every run with PAct parameters records ``act_channels_moved``: the fraction of PAct channels (over
all activations of the model) whose largest parameter change ``max |θ − θ₀|`` exceeds
``act_delta_tol`` (``ACT_DELTA_TOL`` = 1e-2, or ``+optim.act_delta_tol``). The tolerance sits well
above the per-step move of the activation group (AdamW moves a parameter by about its lr,
3e-4 at the defaults, and the cosine schedule ends near 0), so a channel the penalty holds at its
initial value, where Adam jitters around the kink of |·|, does not count as moved.
"""

from __future__ import annotations

import torch
from torch import nn

from frozen_bench.nn.activations import PAct

ACT_DELTA_TOL = 1e-2


def pact_params(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of every trainable PAct parameter; each has the channels on dim 0."""
    out, seen = [], set()
    for mname, m in model.named_modules():
        if isinstance(m, PAct):
            for pname, p in m.named_parameters(recurse=False):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    out.append((f"{mname}.{pname}", p))
    return out


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """The PAct parameters' current values (θ₀), detached copies."""
    return {name: p.detach().clone() for name, p in pact_params(model)}


def l1_penalty(model: nn.Module, init: dict[str, torch.Tensor]) -> torch.Tensor:
    """``Σ |θ − θ₀|`` over the PAct parameters (a 0-dim tensor on their device)."""
    terms = [(p - init[name].to(p.device)).abs().sum() for name, p in pact_params(model) if name in init]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


@torch.no_grad()
def moved_channels(model: nn.Module, init: dict[str, torch.Tensor], tol: float = ACT_DELTA_TOL
                   ) -> dict[str, tuple[list[int], int]]:
    """Per activation module: (indices of its channels with ``max |θ − θ₀| > tol``, its channel count)."""
    per_act: dict[str, list[torch.Tensor]] = {}
    for name, p in pact_params(model):
        if name in init:
            delta = (p.detach().cpu() - init[name].cpu()).abs().reshape(p.shape[0], -1).amax(1)  # (C,)
            per_act.setdefault(name.rsplit(".", 1)[0], []).append(delta)
    out = {}
    for act, ds in per_act.items():
        flags = torch.stack(ds).amax(0) > tol  # (C,)
        out[act] = (torch.nonzero(flags).flatten().tolist(), int(flags.numel()))
    return out


def moved_fraction(moved: dict[str, tuple[list[int], int]]) -> float:
    """The fraction of channels ``moved_channels`` found moved, over all activation modules."""
    return sum(len(i) for i, _ in moved.values()) / sum(c for _, c in moved.values())


def moved_text(moved: dict[str, tuple[list[int], int]]) -> str:
    """Which channels moved, as one all.csv cell (``act_moved_channels``): ``module:i,j,k/C`` per
    activation, ``;``-joined; the report reads it back (``report.companion.parse_moved``)."""
    return ";".join(f"{act}:{','.join(map(str, idx))}/{c}" for act, (idx, c) in moved.items())
