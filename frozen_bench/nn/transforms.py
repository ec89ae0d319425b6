"""Fixed linear mixing: the frozen part of a frozen network.

``make_transform(name, dim, seed)`` returns a module mapping ``(..., dim)`` to ``(..., out_dim)``.
None of them has a trainable parameter. Inputs narrower than the transform's size are zero-padded
on the right (``out_dim`` says the padded width): WHT pads to the next power of two; DCT, FFT,
random_orth and identity work at any width, so for them ``out_dim == dim``.
``transform_out_dim(name, dim)`` gives that width without building the transform (a random_orth
build is a full QR).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.nn import fast
from frozen_bench.nn.matrices import haar_orthogonal
from frozen_bench.registry import Registry



class FixedTransform(nn.Module):
    """Base: pads to ``out_dim`` then applies a norm-preserving map along the last axis."""

    name = "base"

    @staticmethod
    def width_for(dim: int) -> int:
        """The padded width this transform works at for inputs of width ``dim``."""
        return dim

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.dim, self.out_dim = dim, out_dim

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, self.out_dim - x.shape[-1])) if x.shape[-1] < self.out_dim else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"{self.name} transform built for width {self.dim}, got {x.shape[-1]}")
        return self.mix(self.pad(x))

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def frozen_bytes(self) -> int:
        """Bytes needed to store this operator (0 for computed transforms)."""
        return 0

    def fixed_numel(self) -> int:
        """Numbers this operator holds in memory (0 for computed transforms)."""
        return 0

    def ops_per_row(self) -> float:
        """Multiply-adds to mix one row of ``out_dim`` values (``train.compute``); the identity: 0."""
        return 0.0

    def extra_repr(self) -> str:
        return f"dim={self.dim}, out_dim={self.out_dim}"


class WHT(FixedTransform):
    name = "wht"

    @staticmethod
    def width_for(dim: int) -> int:
        return fast.next_power_of_two(dim)

    def __init__(self, dim: int, seed: int = 0):
        super().__init__(dim, self.width_for(dim))

    def mix(self, x):
        return fast.wht(x)

    def ops_per_row(self) -> float:
        return float(self.out_dim * math.log2(max(self.out_dim, 2)))  # log2(n) butterfly levels, n adds each


class DCT(FixedTransform):
    name = "dct"

    def __init__(self, dim: int, seed: int = 0):
        super().__init__(dim, dim)

    def mix(self, x):
        return fast.dct2(x)

    def ops_per_row(self) -> float:
        return float(2 * self.out_dim * math.log2(max(self.out_dim, 2)))  # one real FFT and O(n) twiddles


class FFT(FixedTransform):
    name = "fft"

    def __init__(self, dim: int, seed: int = 0):
        super().__init__(dim, dim)

    def mix(self, x):
        return fast.fft_real(x)

    def ops_per_row(self) -> float:
        return float(2 * self.out_dim * math.log2(max(self.out_dim, 2)))  # one real FFT


class RandomOrth(FixedTransform):
    """A seeded random orthogonal matrix (Haar, via QR). Regenerated from ``seed`` on build and
    kept as a non-persistent buffer: it is never in ``parameters()`` nor in the state dict, so
    storing it costs one integer."""

    name = "random_orth"

    def __init__(self, dim: int, seed: int = 0):
        super().__init__(dim, dim)
        self.seed = seed
        q = haar_orthogonal(dim, seed)
        self.register_buffer("matrix", q, persistent=False)  # float64: exact for float64 inputs
        self._cast: dict = {}

    def mix(self, x):
        if x.dtype == self.matrix.dtype:
            return x @ self.matrix
        key = (x.dtype, self.matrix.device)
        if key not in self._cast:  # cast once per dtype/device, not per batch
            self._cast = {key: self.matrix.to(x.dtype)}
        return x @ self._cast[key]

    def frozen_bytes(self) -> int:
        return 8  # the seed

    def ops_per_row(self) -> float:
        return float(self.dim * self.dim)  # a dense matrix

    def fixed_numel(self) -> int:
        return self.matrix.numel()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", seed={self.seed}"


class Identity(FixedTransform):
    name = "identity"

    def __init__(self, dim: int, seed: int = 0):
        super().__init__(dim, dim)

    def mix(self, x):
        return x


TRANSFORMS = Registry("transform")
TRANSFORMS.add("wht", WHT)
TRANSFORMS.add("dct", DCT)
TRANSFORMS.add("fft", FFT)
TRANSFORMS.add("random_orth", RandomOrth)
TRANSFORMS.add("identity", Identity)


def _transform_class(name: str, dim: int) -> type[FixedTransform]:
    cls = TRANSFORMS.entry(name).build
    if dim < 1:
        raise ValueError(f"transform width must be positive, got {dim}")
    return cls


def make_transform(name: str, dim: int, seed: int = 0) -> FixedTransform:
    return _transform_class(name, dim)(dim, seed=seed)


def transform_out_dim(name: str, dim: int) -> int:
    """``make_transform(name, dim).out_dim`` without building it (e.g. the next power of two for WHT)."""
    return _transform_class(name, dim).width_for(dim)
