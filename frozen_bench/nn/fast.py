"""Fast fixed orthonormal transforms along the last dimension, as pure functions.

No storage: the Walsh-Hadamard, DCT-II and FFT operators are computed, never materialized at
full size. All three are orthonormal, so each preserves the L2 norm of every row.

- ``wht(x)``: natural (Sylvester) order, ``x @ scipy.linalg.hadamard(n) / sqrt(n)``; n a power of 2.
- ``dct2(x)``: DCT-II with orthonormal scaling (``scipy.fft.dct(x, norm="ortho")``); any n.
- ``fft_real(x)``: the orthonormal rfft written as n real numbers
  ``[Re X0, sqrt2 Re X1.., Re X_{n/2} (n even), sqrt2 Im X1..]``; any n.
- ``idct2`` / ``ifft_real``: their inverses (= transposes, since the maps are orthonormal).

Every function supports autograd, float32/float64 and CPU/CUDA tensors.

Two paths compute the same thing. On CPU float32/float64 tensors the compiled kernels of
``csrc/fastmix.cpp`` (built at first use, see ``native.py``) do the WHT butterflies in cache and
the O(n) re-orderings around ``torch.fft.rfft``; their backward passes are the transposes
(WHT: itself; DCT-II: DCT-III; fft_real: ifft_real). Everywhere else (CUDA, other dtypes,
``FROZEN_BENCH_NO_EXT=1``, no compiler) the pure-PyTorch path runs and autograd differentiates it.
"""

from __future__ import annotations

import math

import torch

from frozen_bench.nn import native
from frozen_bench.nn.matrices import sylvester_hadamard

# ---------------------------------------------------------------- helpers


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def backend_status() -> str:
    """One line for logs and benchmark tables: which backend the CPU transforms use and why."""
    return native.status()


def backend(x: torch.Tensor | None = None) -> str:
    """'native' if the compiled CPU kernels would handle ``x`` (default: a CPU float32 tensor)."""
    if x is None:
        x = torch.empty(1)
    return "native" if native.usable(x) else "torch"


def _c(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_contiguous() else x.contiguous()


def _empty(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x, memory_format=torch.contiguous_format)


_plans: dict = {}


def _plan(kind: str, n: int, dtype: torch.dtype) -> tuple:
    """Twiddle tables of one native transform: (tensors, kept alive; their data pointers)."""
    key = (kind, n, dtype)
    p = _plans.get(key)
    if p is None:
        cpu = torch.device("cpu")
        if kind == "dct":
            C, S, _, _ = dct_tables(n, dtype, cpu)
            ts = (*_half_twiddles(n, dtype), C, S) if n % 2 == 0 else (C, S)
        elif kind == "idct":
            _, _, IC, IS = dct_tables(n, dtype, cpu)
            ts = (IC, IS, *_split_tables(n, dtype)) if n % 2 == 0 else (IC, IS)
        elif kind == "fft":
            ts = _pack_twiddles(n, dtype)
        else:  # "ifft"
            ts = _split_tables(n, dtype)
        p = _plans[key] = (ts, tuple(t.data_ptr() for t in ts))
    return p


_split_cache: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _split_tables(n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of 2 pi k / n for k < n/2: the twiddles that split an n/2-point complex FFT of
    n reals into their rfft (see csrc/fastmix.cpp)."""
    key = (n, dtype)
    t = _split_cache.get(key)
    if t is None:
        phi = 2 * math.pi * torch.arange(n // 2, dtype=torch.float64) / n
        t = _split_cache[key] = (torch.cos(phi).to(dtype), torch.sin(phi).to(dtype))
    return t


def _complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex64 if dtype == torch.float32 else torch.complex128


# ---------------------------------------------------------------- WHT

# Kronecker factor size for the PyTorch path: H_n = H_a (x) H_b (x) ..., each factor applied as one
# small matmul, so the work goes to BLAS/cuBLAS instead of a Python butterfly loop.
_FACTOR = 32
_factor_cache: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}


def _hadamard(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (n, dtype, device)
    h = _factor_cache.get(key)
    if h is None:
        with torch.inference_mode(False):  # a cache first filled in inference mode must still serve autograd
            h = _factor_cache[key] = sylvester_hadamard(n, dtype).to(device)
    return h


def wht_torch(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    lead = x.shape[:-1]
    y = x.reshape(-1, n)
    rows = y.shape[0]
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
        y = y.reshape(rows * outer, f, inner)  # mix the middle axis
        y = torch.matmul(h, y) if inner > 1 else y.reshape(rows * outer, f) @ h
        outer *= f
    return y.reshape(*lead, n) / math.sqrt(n)


def _wht_native(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    xc = _c(x)
    out = _empty(xc)
    native.kernel("wht", x.dtype)(xc.data_ptr(), out.data_ptr(), xc.numel() // n, n, 1.0 / math.sqrt(n),
                       torch.get_num_threads())
    return out


def wht(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal WHT along the last dim, natural order (``x @ hadamard(n) / sqrt(n)``)."""
    n = x.shape[-1]
    if not is_power_of_two(n):
        raise ValueError(f"wht needs a power-of-two last dimension, got {n}; pad the input first")
    if native.usable(x) and x.numel():
        return _run(x, _WHT, _wht_native)
    return wht_torch(x)


# ---------------------------------------------------------------- DCT-II (Makhoul: one real FFT)
#
# v = [x0, x2, x4, .., x5, x3, x1];  V = rfft(v);  y_m = Re(W_m V_m) with W_m = c e^{-i pi m / 2n},
# c = sqrt(2/n) (W_0 = 1/sqrt n). V is Hermitian, so y_m and y_{n-m} both come from V_m:
#   y_m = C_m Re V_m + S_m Im V_m,   y_{n-m} = S_m Re V_m - C_m Im V_m,   C/S = c cos/sin(pi m/2n).

_dct_cache: dict[tuple[int, torch.dtype, torch.device], tuple[torch.Tensor, ...]] = {}


def dct_tables(n: int, dtype: torch.dtype, device: torch.device):
    """(C, S) for the forward map and (IC, IS) for its inverse, length n//2+1."""
    key = (n, dtype, device)
    t = _dct_cache.get(key)
    if t is None:
        with torch.inference_mode(False):  # as _hadamard's: the tables serve autograd later
            return _dct_cache.setdefault(key, _dct_tables_built(n, dtype, device))
    return t


def _dct_tables_built(n: int, dtype: torch.dtype, device: torch.device):
    m = torch.arange(n // 2 + 1, dtype=torch.float64)
    theta = math.pi * m / (2 * n)
    c = math.sqrt(2.0 / n)
    C, S = c * torch.cos(theta), c * torch.sin(theta)
    C[0], S[0] = 1.0 / math.sqrt(n), 0.0
    # Inverse, for irfft(norm="forward") (no 1/n inside): Re V_m = (cos y_m + sin y_{n-m})/(c n),
    # Im V_m = (sin y_m - cos y_{n-m})/(c n); the real-only bins m=0 and m=n/2 get 1/sqrt(n).
    IC, IS = torch.cos(theta) / (c * n), torch.sin(theta) / (c * n)
    IC[0], IS[0] = 1.0 / math.sqrt(n), 0.0
    if n % 2 == 0:
        IC[n // 2], IS[n // 2] = 1.0 / math.sqrt(n), 0.0
    return tuple(a.to(dtype).to(device).contiguous() for a in (C, S, IC, IS))


def _dct2_torch(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    C, S, _, _ = dct_tables(n, x.dtype, x.device)
    v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    V = torch.fft.rfft(v, dim=-1)
    re, im = V.real, V.imag
    lo = C * re + S * im  # y_0 .. y_{n//2}
    K = (n - 1) // 2
    hi = (S * re - C * im)[..., 1 : K + 1].flip(-1)  # y_{n-K} .. y_{n-1}
    return torch.cat([lo, hi], dim=-1)


def _idct2_torch(y: torch.Tensor) -> torch.Tensor:
    n = y.shape[-1]
    _, _, IC, IS = dct_tables(n, y.dtype, y.device)
    h, K = n // 2, (n - 1) // 2
    # b_m = y_{n-m} for m = 1..K; zero at the real-only bins (m = 0 and, n even, m = n/2).
    zero = torch.zeros_like(y[..., :1])
    b = torch.cat([zero, y[..., n - K :].flip(-1)] + ([zero] if n % 2 == 0 else []), -1)
    a = y[..., : h + 1]
    V = torch.complex(IC * a + IS * b, IS * a - IC * b)
    v = torch.fft.irfft(V, n=n, dim=-1, norm="forward")
    x = torch.empty_like(v)
    ne = (n + 1) // 2
    x[..., 0::2] = v[..., :ne]
    x[..., 1::2] = v[..., ne:].flip(-1)
    return x


# Row chunk for the FFT-based native paths: the pre-pass, the FFT and the post-pass of one chunk
# run back to back while its buffers (~2 MB each) are still in L2. Whole batches at n = 16384
# (16 MB per buffer) otherwise make every pass a trip to DRAM: measured 3.4x -> 1.4x rfft's time.
_CHUNK_BYTES = 2 << 20


def _chunks(rows: int, n: int, itemsize: int):
    step = max(8, _CHUNK_BYTES // max(1, n * itemsize))
    if rows <= step:
        yield 0, rows
        return
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)


def _dct2_native(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    xc = _c(x)
    rows, nt = xc.numel() // n, torch.get_num_threads()
    _, ptrs = _plan("dct", n, x.dtype)
    pre, post = native.kernel("dct_pre", x.dtype), native.kernel("dct_split_post" if n % 2 == 0 else "dct_post", x.dtype)
    y = _empty(xc)
    xp, yp, row_bytes = xc.data_ptr(), y.data_ptr(), n * xc.element_size()
    for r0, r1 in _chunks(rows, n, xc.element_size()):
        r = r1 - r0
        if n % 2 == 0:
            # v written straight into a complex buffer: the n reals as n/2 complex numbers for a
            # half-length complex FFT; the split to v's rfft is fused into the twiddle pass,
            # saving the rfft's own post-processing pass.
            v = torch.empty(r, n // 2, dtype=_complex_of(x.dtype))
            pre(xp + r0 * row_bytes, v.data_ptr(), r, n, nt)
            Z = torch.fft.fft(v)
        else:
            v = torch.empty(r, n, dtype=x.dtype)
            pre(xp + r0 * row_bytes, v.data_ptr(), r, n, nt)
            Z = torch.fft.rfft(v)
        post(Z.data_ptr(), yp + r0 * row_bytes, *ptrs, r, n, nt)
    return y


_half_cache: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _half_twiddles(n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(Re w / 2, Im w / 2), w = e^{-2 pi i k / n}: the split's twiddle, halved."""
    t = _half_cache.get((n, dtype))
    if t is None:
        cw, sw = _split_tables(n, torch.float64)
        t = _half_cache[(n, dtype)] = ((cw / 2).to(dtype), (-sw / 2).to(dtype))
    return t


def _idct2_native(y: torch.Tensor) -> torch.Tensor:
    n = y.shape[-1]
    yc = _c(y)
    rows, nt = yc.numel() // n, torch.get_num_threads()
    _, ptrs = _plan("idct", n, y.dtype)
    even = n % 2 == 0
    pre = native.kernel("dct3_unsplit_pre" if even else "dct3_pre", y.dtype)
    post = native.kernel("dct3_post", y.dtype)
    x = _empty(yc)
    yp, xp, row_bytes = yc.data_ptr(), x.data_ptr(), n * yc.element_size()
    for r0, r1 in _chunks(rows, n, yc.element_size()):
        r = r1 - r0
        Z = torch.empty(r, n // 2 if even else n // 2 + 1, dtype=_complex_of(y.dtype))
        pre(yp + r0 * row_bytes, Z.data_ptr(), *ptrs, r, n, nt)
        if even:
            v = torch.fft.ifft(Z, norm="forward")  # (r, n/2) complex = v as n reals
        else:
            v = torch.fft.irfft(Z, n=n, norm="forward").contiguous()
        post(v.data_ptr(), xp + r0 * row_bytes, r, n, nt)
    return x


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dim (``scipy.fft.dct(x, norm="ortho")``)."""
    if x.numel() == 0:
        return x.clone()
    return _run(x, _DCT, _dct2_native) if native.usable(x) else _dct2_torch(x)


def idct2(y: torch.Tensor) -> torch.Tensor:
    """Inverse of ``dct2``: orthonormal DCT-III (``scipy.fft.idct(y, norm="ortho")``)."""
    if y.numel() == 0:
        return y.clone()
    return _run(y, _IDCT, _idct2_native) if native.usable(y) else _idct2_torch(y)


# ---------------------------------------------------------------- FFT as n reals

_SQRT2 = math.sqrt(2.0)


def fft_real_torch(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    X = torch.fft.rfft(x, dim=-1, norm="ortho")  # (..., n//2+1)
    re, im = X.real, X.imag
    if n % 2 == 0:
        # X0 and X_{n/2} are real; the others carry two numbers each, scaled to keep the norm.
        return torch.cat(
            [re[..., :1], _SQRT2 * re[..., 1:-1], re[..., -1:], _SQRT2 * im[..., 1:-1]], dim=-1
        )
    return torch.cat([re[..., :1], _SQRT2 * re[..., 1:], _SQRT2 * im[..., 1:]], dim=-1)


def _ifft_real_torch(y: torch.Tensor) -> torch.Tensor:
    n = y.shape[-1]
    K = (n - 1) // 2
    off = n - K - 1
    zero = torch.zeros_like(y[..., :1])
    parts_re = [y[..., :1], y[..., 1 : K + 1] / _SQRT2]
    parts_im = [zero, y[..., off + 1 : off + K + 1] / _SQRT2]
    if n % 2 == 0:
        parts_re.append(y[..., n // 2 : n // 2 + 1])
        parts_im.append(zero)
    X = torch.complex(torch.cat(parts_re, -1), torch.cat(parts_im, -1))
    return torch.fft.irfft(X, n=n, dim=-1, norm="ortho")


def _fft_real_native(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    xc = _c(x)
    rows, nt = xc.numel() // n, torch.get_num_threads()
    even = n % 2 == 0
    if even and xc.storage_offset() & 1:
        xc = xc.clone()  # a complex view needs an even element offset
    y = _empty(xc)
    yp, row_bytes = y.data_ptr(), n * xc.element_size()
    x2 = xc.view(rows, n)
    if even:
        _, ptrs = _plan("fft", n, x.dtype)
        pack, s0 = native.kernel("fft_split_pack", x.dtype), 1.0 / math.sqrt(n)
    else:
        pack = native.kernel("fft_pack", x.dtype)
    for r0, r1 in _chunks(rows, n, xc.element_size()):
        xs, r = (x2 if r1 - r0 == rows else x2[r0:r1]), r1 - r0
        if even:
            # The n reals are already n/2 complex numbers in memory: one half-length complex FFT,
            # then one pass that both splits it into the rfft and writes the packed layout.
            Z = torch.fft.fft(torch.view_as_complex(xs.view(r, n // 2, 2)))
            pack(Z.data_ptr(), yp + r0 * row_bytes, *ptrs, r, n, s0 / _SQRT2, s0, nt)
        else:
            X = torch.fft.rfft(xs, norm="ortho")
            pack(X.data_ptr(), yp + r0 * row_bytes, r, n, _SQRT2, nt)
    return y


_pack_cache: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _pack_twiddles(n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """s1 Re w / 2 and s1 Im w / 2 (w = e^{-2 pi i k/n}, s1 = sqrt(2/n)) for fft_split_pack."""
    t = _pack_cache.get((n, dtype))
    if t is None:
        cw, sw = _split_tables(n, torch.float64)
        s1 = math.sqrt(2.0 / n)
        t = _pack_cache[(n, dtype)] = ((s1 * cw / 2).to(dtype), (-s1 * sw / 2).to(dtype))
    return t


def _ifft_real_native(y: torch.Tensor) -> torch.Tensor:
    n = y.shape[-1]
    yc = _c(y)
    rows, nt = yc.numel() // n, torch.get_num_threads()
    even = n % 2 == 0
    if even:
        _, ptrs = _plan("ifft", n, y.dtype)
        unpack, g0 = native.kernel("fft_unsplit_unpack", y.dtype), 1.0 / math.sqrt(n)
    else:
        unpack = native.kernel("fft_unpack", y.dtype)
    yp, row_bytes = yc.data_ptr(), n * yc.element_size()
    parts = []
    for r0, r1 in _chunks(rows, n, yc.element_size()):
        r = r1 - r0
        if even:
            Z = torch.empty(r, n // 2, dtype=_complex_of(y.dtype))
            unpack(yp + r0 * row_bytes, Z.data_ptr(), *ptrs, r, n, g0, g0 / _SQRT2, nt)
            parts.append(torch.view_as_real(torch.fft.ifft(Z, norm="forward")).view(r, n))
        else:
            X = torch.empty(r, n // 2 + 1, dtype=_complex_of(y.dtype))
            unpack(yp + r0 * row_bytes, X.data_ptr(), r, n, 1.0 / _SQRT2, nt)
            parts.append(torch.fft.irfft(X, n=n, norm="ortho"))
    x = parts[0] if len(parts) == 1 else torch.cat(parts)
    return x.view(*y.shape)


def fft_real(x: torch.Tensor) -> torch.Tensor:
    """The orthonormal rfft of the last dim as n real numbers (the module docstring's packing)."""
    if x.numel() == 0:
        return x.clone()
    return _run(x, _FFT, _fft_real_native) if native.usable(x) else fft_real_torch(x)


def ifft_real(y: torch.Tensor) -> torch.Tensor:
    """Inverse of ``fft_real``."""
    if y.numel() == 0:
        return y.clone()
    return _run(y, _IFFT, _ifft_real_native) if native.usable(y) else _ifft_real_torch(y)


# ---------------------------------------------------------------- autograd of the native paths
#
# Each map is orthonormal, so its backward is its adjoint, which is its inverse: WHT's is itself
# (H/sqrt(n) is symmetric), DCT-II's is DCT-III, fft_real's is ifft_real (and the other way round).


def _orthonormal(forward_native, adjoint) -> type[torch.autograd.Function]:
    """The autograd Function of one native transform: forward runs the kernel, backward applies
    ``adjoint()`` (a public transform, itself differentiable, looked up when it runs)."""
    class Orthonormal(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return forward_native(x)

        @staticmethod
        def backward(ctx, g):
            return adjoint()(g)

    return Orthonormal


_WHT = _orthonormal(_wht_native, lambda: wht)
_DCT = _orthonormal(_dct2_native, lambda: idct2)
_IDCT = _orthonormal(_idct2_native, lambda: dct2)
_FFT = _orthonormal(_fft_real_native, lambda: ifft_real)
_IFFT = _orthonormal(_ifft_real_native, lambda: fft_real)


def _run(x: torch.Tensor, fn: type[torch.autograd.Function], forward_native) -> torch.Tensor:
    """A native transform of x: through its autograd Function where a graph is recorded, else the
    kernel alone (autograd.Function's overhead skipped)."""
    if x.requires_grad and torch.is_grad_enabled():
        return fn.apply(x)
    return forward_native(x)
