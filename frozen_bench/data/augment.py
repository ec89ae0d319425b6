"""Image augmentation on tensors, per training batch: ``augment=none|flip_crop``.

``make_augment(cfg)`` turns the ``augment`` config group into ``fn(x, generator) -> x`` (or None
for ``none``). ``flip_crop`` is the standard CIFAR recipe: a random horizontal flip (p=0.5) and a
random crop of the original size from the image padded by ``crop_padding`` pixels on each side.
Both are one gather over the whole batch (no per-sample Python loop, no padded copy): each sample's
row and column indices are shifted (and the columns reversed for a flip), then read in one indexing
op. ``pad_mode``: ``reflect`` (mirror without repeating the edge, as airbench), ``zeros`` (zero in
the tensor's units: black for uint8, the mean colour for standardized floats) or ``edge``.

Randomness comes only from the ``torch.Generator`` passed in (a CPU generator; the few draws per
batch move to the batch's device), so a run is deterministic per seed, on any device, and resumes
exactly when the generator's state is checkpointed. Works on uint8 or float (N, C, H, W) batches.
"""

from __future__ import annotations

from typing import Callable

import torch

KINDS = ("none", "flip_crop")
PAD_MODES = ("reflect", "zeros", "edge")


def _indices(n: int, size: int, shift: torch.Tensor, pad: int, mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, size) source indices of a crop starting at ``shift - pad``; and a validity mask for zeros."""
    idx = shift.view(-1, 1) - pad + torch.arange(size, device=shift.device).view(1, -1)  # (B, size)
    if mode == "reflect":
        idx = idx.abs()
        idx = torch.where(idx > n - 1, 2 * (n - 1) - idx, idx)
        return idx.clamp_(0, n - 1), None
    valid = (idx >= 0) & (idx <= n - 1)
    return idx.clamp(0, n - 1), (valid if mode == "zeros" else None)


def flip_crop(x: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True,
              pad_mode: str = "reflect") -> torch.Tensor:
    """x (B, C, H, W) -> (B, C, H, W): per-sample random crop (padding ``padding``) and horizontal flip."""
    if x.dim() != 4:
        raise ValueError(f"augment=flip_crop needs image batches (B, C, H, W), got shape {tuple(x.shape)}; "
                         f"use augment=none for this dataset")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"augment.pad_mode must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}")
    b, c, h, w = x.shape
    if padding >= min(h, w) and pad_mode == "reflect":
        raise ValueError(f"augment.crop_padding={padding} must be smaller than the image ({h}x{w}) for reflect")
    draws = torch.randint(0, 2 * padding + 1, (2, b), generator=generator)  # (2, B) crop offsets in [0, 2p]
    flips = torch.rand(b, generator=generator) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    dy, dx, flips = draws[0].to(x.device), draws[1].to(x.device), flips.to(x.device)
    rows, rmask = _indices(h, h, dy, padding, pad_mode)  # (B, H)
    cols, cmask = _indices(w, w, dx, padding, pad_mode)  # (B, W)
    cols = torch.where(flips.view(-1, 1), cols.flip(1), cols)  # a flipped crop reads its columns backwards
    if cmask is not None:
        cmask = torch.where(flips.view(-1, 1), cmask.flip(1), cmask)
    bi = torch.arange(b, device=x.device).view(-1, 1, 1)
    out = x[bi, :, rows.view(b, h, 1), cols.view(b, 1, w)]  # (B, H, W, C): advanced dims come first
    if rmask is not None:
        keep = (rmask.view(b, h, 1) & cmask.view(b, 1, w)).unsqueeze(-1)  # (B, H, W, 1)
        out = out * keep.to(out.dtype)
    return out.permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def make_augment(cfg: dict | None) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """The ``augment`` group -> ``fn(x, generator)``, or None when nothing is to be done."""
    if not cfg:
        return None
    kind = cfg.get("name", "none")
    if kind == "none":
        return None
    if kind == "flip_crop":
        padding, flip = int(cfg.get("crop_padding", 4)), bool(cfg.get("flip", True))
        mode = cfg.get("pad_mode", "reflect")
        if padding < 0:
            raise ValueError(f"augment.crop_padding must be >= 0, got {padding}")
        if mode not in PAD_MODES:
            raise ValueError(f"augment.pad_mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
        return lambda x, generator: flip_crop(x, generator, padding=padding, flip=flip, pad_mode=mode)
    raise ValueError(f"augment={kind!r} is unknown; choose one of {', '.join(KINDS)}")

