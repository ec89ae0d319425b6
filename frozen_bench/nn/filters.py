"""Fixed spatial filter banks for frozen CNNs (harmonic-network style).

``make_filter_bank(name, kernel_size, n_filters, seed)`` returns a ``FixedFilterBank`` that
convolves every input channel separately (depthwise) with the same K fixed k×k filters:
``(B, C, H, W) -> (B, C·K, H, W)``, output channel ``c·K + j`` = filter j on input channel c.

- ``dct``: the 2-D DCT-II basis (orthonormal), ordered by frequency u+v, so keeping the first K
  filters keeps the smoothest ones.
- ``hadamard``: the 2-D Walsh-Hadamard basis in sequency order (±1/k entries, orthonormal);
  kernel_size must be a power of two (even kernels are padded asymmetrically, 'same' output).
- ``random_orth``: K rows of a seeded Haar-random orthogonal k²×k² matrix.

The bank is a non-persistent buffer regenerated on build: never a parameter, never saved. DCT and
Hadamard are given by formula (0 bytes to store); random_orth needs its seed (8 bytes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.nn.matrices import haar_orthogonal, sylvester_hadamard
from frozen_bench.registry import Registry

def _dct_basis(k: int) -> torch.Tensor:
    """(k, k) orthonormal DCT-II matrix, row u = frequency u."""
    n = torch.arange(k, dtype=torch.float64)
    m = torch.cos(math.pi * (n[None, :] + 0.5) * n[:, None] / k)
    m[0] *= 1 / math.sqrt(2)
    return m * math.sqrt(2 / k)


def _hadamard_sequency(k: int) -> torch.Tensor:
    """(k, k) orthonormal Walsh matrix, rows sorted by number of sign changes."""
    h = sylvester_hadamard(k)
    changes = (h[:, 1:] != h[:, :-1]).sum(1)
    return h[torch.argsort(changes, stable=True)] / math.sqrt(k)


def _hadamard_checked(k: int) -> torch.Tensor:
    if k & (k - 1):
        raise ValueError(f"filters=hadamard needs a power-of-two kernel_size (2, 4, 8), got {k}")
    return _hadamard_sequency(k)


def _random_orth_bank(k: int, seed: int) -> torch.Tensor:
    return haar_orthogonal(k * k, seed).T.reshape(k * k, k, k).float()


# model.filters=NAME -> the 1-D orthonormal basis of a separable bank (k -> (k, k)), or, for a
# non-separable bank, the whole bank from its seed ((k, seed) -> (k², k, k))
FILTERS = Registry("filters", key="model.filters")
FILTERS.add("dct", _dct_basis, separable=True)
FILTERS.add("hadamard", _hadamard_checked, separable=True)
FILTERS.add("random_orth", _random_orth_bank, separable=False)


def filter_bank(name: str, k: int, seed: int = 0) -> torch.Tensor:
    """All k² orthonormal k×k filters of a bank, (k², k, k), lowest frequency first."""
    entry = FILTERS.entry(name)
    if not entry.separable:
        return entry.build(k, seed)
    b = entry.build(k)
    u, v = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    order = torch.argsort((u + v).flatten() * k * k + u.flatten() * k + v.flatten())  # by u+v, then u
    bank = torch.einsum("ux,vy->uvxy", b, b).reshape(k * k, k, k)  # separable 2-D basis
    return bank[order].float()


class FixedFilterBank(nn.Module):
    def __init__(self, name: str, kernel_size: int = 3, n_filters: int | None = None, seed: int = 0):
        super().__init__()
        k = int(kernel_size)
        if k < 1:
            raise ValueError(f"kernel_size must be >= 1, got {k}")
        n = int(n_filters or k * k)
        if not 1 <= n <= k * k:
            raise ValueError(f"n_filters must be in 1..{k * k} for kernel_size={k}, got {n}")
        self.name, self.kernel_size, self.n_filters, self.seed = name, k, n, seed
        self.register_buffer("bank", filter_bank(name, k, seed)[:n].unsqueeze(1), persistent=False)  # (K, 1, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C*K, H, W)
        c = x.shape[1]
        w = self.bank.to(x.dtype).repeat(c, 1, 1, 1)  # the same K filters for every input channel
        return F.conv2d(x, w, padding="same", groups=c)

    def out_channels(self, in_channels: int) -> int:
        return in_channels * self.n_filters

    def macs_per_output(self) -> int:
        """Multiply-adds per output value (``train.compute``): one k×k filter on one channel."""
        return self.kernel_size ** 2

    def fixed_numel(self) -> int:
        return self.bank.numel()

    def frozen_bytes(self) -> int:
        return 8 if self.name == "random_orth" else 0  # the seed; dct/hadamard are formulas

    def extra_repr(self) -> str:
        return f"{self.name}, kernel_size={self.kernel_size}, n_filters={self.n_filters}"


def make_filter_bank(name: str, kernel_size: int = 3, n_filters: int | None = None, seed: int = 0) -> FixedFilterBank:
    FILTERS.entry(name)  # an unknown name: one line listing the banks
    return FixedFilterBank(name, kernel_size, n_filters, seed)
