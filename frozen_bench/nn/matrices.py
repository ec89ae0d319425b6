"""The fixed matrices the frozen layers are built from, each constructed in one place.

- ``sylvester_hadamard(n)``: the ±1 Hadamard matrix in natural (Sylvester) order,
  ``H_2n = [[H, H], [H, -H]]`` (``scipy.linalg.hadamard(n)``); n a power of two. Unnormalized.
- ``haar_orthogonal(n, seed)``: a seeded Haar-random n×n orthogonal matrix (QR of a Gaussian
  matrix with the signs of R's diagonal folded into Q, which makes the distribution uniform).

Both are float64 unless asked otherwise, so float64 users get exact (or exactly orthogonal) values.
"""

from __future__ import annotations

import torch


def sylvester_hadamard(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(n, n) ±1 Hadamard matrix, natural order; ``H @ H.T == n·I``."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"a Sylvester Hadamard matrix needs a power-of-two size, got {n}")
    h = torch.ones(1, 1, dtype=dtype)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def haar_orthogonal(n: int, seed: int = 0) -> torch.Tensor:
    """(n, n) float64 orthogonal matrix drawn from the Haar measure, determined by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # unique Haar-distributed Q
