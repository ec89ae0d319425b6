"""Fast fixed orthonormal transforms along the last dimension, as pure functions.

No storage: the Walsh-Hadamard, DCT-II and FFT operators are computed, never materialized at
full size. All three are orthonormal, so each preserves the L2 norm of every row.

- ``wht(x)``: natural (Sylvester) order, ``x @ scipy.linalg.hadamard(n) / sqrt(n)``; n a power of 2.
- ``dct2(x)``: DCT-II with orthonormal scaling (``scipy.fft.dct(x, norm="ortho")``); any n.
- ``fft_real(x)``: the orthonormal rfft written as n real numbers
  ``[Re X0, sqrt2 Re X1.., Re X_{n/2} (n even), sqrt2 Im X1..]``; any n.

Every function supports autograd, float32/float64 and CPU/CUDA tensors.
"""

from __future__ import annotations

import math

import torch

# Kronecker factor size: H_n = H_a (x) H_b (x) ..., each factor applied as one small matmul,
# so the work goes to BLAS instead of a Python butterfly loop.
_FACTOR = 32
_factor_cache: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _hadamard(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (n, dtype, device)
    h = _factor_cache.get(key)
    if h is None:
        h = torch.ones(1, 1, dtype=dtype)
        while h.shape[0] < n:
            h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
        h = h.to(device)
        _factor_cache[key] = h
    return h


def wht(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    if not is_power_of_two(n):
        raise ValueError(f"wht needs a power-of-two last dimension, got {n}; pad the input first")
    lead = x.shape[:-1]
    y = x.reshape(-1, n)
    rows = y.shape[0]
    # Factor n = f_1 * f_2 * ... with each f_i <= _FACTOR; apply H_{f_i} along its own axis.
    factors = []
    rem = n
    while rem > 1:
        f = min(rem, _FACTOR)
        factors.append(f)
        rem //= f
    inner = n
    outer = 1
    for f in factors:
        inner //= f
        h = _hadamard(f, x.dtype, x.device)
        # (rows*outer, f, inner): mix the middle axis
        y = y.reshape(rows * outer, f, inner)
        y = torch.matmul(h, y) if inner > 1 else y.reshape(rows * outer, f) @ h
        outer *= f
    return (y.reshape(*lead, n)) / math.sqrt(n)


_twiddle_cache: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}


def _dct_twiddle(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (n, dtype, device)
    w = _twiddle_cache.get(key)
    if w is None:
        k = torch.arange(n, dtype=torch.float64)
        w = torch.exp(-1j * math.pi * k / (2 * n)) * math.sqrt(2.0 / n)
        w[0] = w[0] / math.sqrt(2.0)
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        w = w.to(cdtype).to(device)
        _twiddle_cache[key] = w
    return w


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II by Makhoul's reordering: one length-n FFT and a twiddle."""
    n = x.shape[-1]
    v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    V = torch.fft.fft(v, dim=-1)
    return (V * _dct_twiddle(n, x.dtype, x.device)).real


def fft_real(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    X = torch.fft.rfft(x, dim=-1, norm="ortho")  # (..., n//2+1)
    re, im = X.real, X.imag
    s = math.sqrt(2.0)
    if n % 2 == 0:
        # X0 and X_{n/2} are real; the others carry two numbers each, scaled to keep the norm.
        return torch.cat([re[..., :1], s * re[..., 1:-1], re[..., -1:], s * im[..., 1:-1]], dim=-1)
    return torch.cat([re[..., :1], s * re[..., 1:], s * im[..., 1:]], dim=-1)
