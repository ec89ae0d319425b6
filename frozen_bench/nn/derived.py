"""A value computed from some tensors, kept on a module until one of them changes.

Evaluation reuses what training would rebuild every step: a LoRA's merged (C, C) matrix, a frozen
stage's kernel with BatchNorm folded in. The key is each tensor's version counter (bumped by every
in-place change, as an optimizer step makes) and storage (a replaced tensor), plus the dtype and
device asked for, so a stale value is never returned.
"""

from __future__ import annotations

import torch
from torch import nn


def derived(module: nn.Module, name: str, tensors, like: torch.Tensor, build):
    """``build()`` (run without a graph), stored on ``module`` as ``_<name>`` until one of
    ``tensors`` changes or ``like``'s dtype or device does."""
    key = (*[(t._version, t.data_ptr()) for t in tensors], like.dtype, like.device)
    if getattr(module, f"_{name}_key", None) != key:
        # inference mode off (a value first built in inference mode still serves autograd later), then
        # no graph: in this order, because leaving inference mode turns gradient recording back on, and
        # a cached value with a graph would keep its parameters' history and stop the module from being
        # copied (copy.deepcopy: "Only Tensors created explicitly by the user ... support the deepcopy")
        with torch.inference_mode(False), torch.no_grad():
            setattr(module, f"_{name}", build())
        setattr(module, f"_{name}_key", key)
    return getattr(module, f"_{name}")
