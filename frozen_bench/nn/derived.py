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
        with torch.no_grad(), torch.inference_mode(False):  # built in inference mode, still usable outside it
            setattr(module, f"_{name}", build())
        setattr(module, f"_{name}_key", key)
    return getattr(module, f"_{name}")
