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
``csrc/fastmix.cpp`` (built at first use, see ``_native.py``) do the WHT butterflies in cache and
the O(n) re-orderings around ``torch.fft.rfft``; their backward passes are the transposes
(WHT: itself; DCT-II: DCT-III; fft_real: ifft_real). Everywhere else (CUDA, other dtypes,
``FROZEN_BENCH_NO_EXT=1``, no compiler) the pure-PyTorch path runs and autograd differentiates it.
"""

from __future__ import annotations

import contextlib
import math

import torch

from frozen_bench.nn import _native
from frozen_bench.nn.matrices import sylvester_hadamard

# ---------------------------------------------------------------- helpers


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def backend_status() -> str:
    """One line for logs and benchmark tables: which backend the CPU transforms use and why."""
    return _native.status()


def backend(x: torch.Tensor | None = None) -> str:
    """'native' if the compiled CPU kernels would handle ``x`` (default: a CPU float32 tensor)."""
    if x is None:
        x = torch.empty(1)
    return "native" if _use_native(x) else "torch"


_NATIVE_DTYPES = (torch.float32, torch.float64)
try:
    _is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor
except AttributeError:  # older torch: no functorch wrappers to worry about
    def _is_wrapped(x):  # noqa: E306
        return False


_TORCH_ONLY = False


@contextlib.contextmanager
def torch_only():
    """Inside: every function takes its pure-PyTorch path (e.g. while ``torch.jit.trace`` records
    a graph, which cannot see what a kernel does through raw pointers)."""
    global _TORCH_ONLY
    before, _TORCH_ONLY = _TORCH_ONLY, True
    try:
        yield
    finally:
        _TORCH_ONLY = before


def _use_native(x: torch.Tensor) -> bool:
    # Only plain, real CPU tensors: the kernels read raw memory, which fake/functorch/meta
    # tensors (torch.compile, vmap, torch.func.grad) do not have; those take the PyTorch path.
    # Cheapest checks first: this runs on every call.
    return (
        not _TORCH_ONLY
        and x.dtype in _NATIVE_DTYPES
        and x.is_cpu
        and type(x) is torch.Tensor
        and not _is_wrapped(x)
        and _native.lib() is not None
    )


# (kernel name, dtype) -> ctypes function, looked up once. At batch 256, n = 1024 a transform
# takes ~50 us, so every microsecond of Python around the kernel shows in the ratio.
_K: dict = {}


def _k(name: str, dtype: torch.dtype):
    f = _K.get((name, dtype))
    if f is None:
        sfx = "f32" if dtype == torch.float32 else "f64"
        f = _K[(name, dtype)] = getattr(_native.lib(), f"fb_{name}_{sfx}")
    return f


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
            C, S, _, _ = _dct_tables(n, dtype, cpu)
            ts = (*_half_twiddles(n, dtype), C, S) if n % 2 == 0 else (C, S)
        elif kind == "idct":
            _, _, IC, IS = _dct_tables(n, dtype, cpu)
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
    _k("wht", x.dtype)(xc.data_ptr(), out.data_ptr(), xc.numel() // n, n, 1.0 / math.sqrt(n),
                       torch.get_num_threads())
    return out


class _WHTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _wht_native(x)

    @staticmethod
    def backward(ctx, g):
        return wht(g)  # H/sqrt(n) is symmetric and orthonormal: its adjoint is itself


def wht(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    if not is_power_of_two(n):
        raise ValueError(f"wht needs a power-of-two last dimension, got {n}; pad the input first")
    if _use_native(x) and x.numel():
        if x.requires_grad and torch.is_grad_enabled():
            return _WHTFn.apply(x)
        return _wht_native(x)  # skip autograd.Function's overhead when no graph is recorded
    return wht_torch(x)


# ---------------------------------------------------------------- DCT-II (Makhoul: one real FFT)
#
# v = [x0, x2, x4, .., x5, x3, x1];  V = rfft(v);  y_m = Re(W_m V_m) with W_m = c e^{-i pi m / 2n},
# c = sqrt(2/n) (W_0 = 1/sqrt n). V is Hermitian, so y_m and y_{n-m} both come from V_m:
#   y_m = C_m Re V_m + S_m Im V_m,   y_{n-m} = S_m Re V_m - C_m Im V_m,   C/S = c cos/sin(pi m/2n).

_dct_cache: dict[tuple[int, torch.dtype, torch.device], tuple[torch.Tensor, ...]] = {}


def _dct_tables(n: int, dtype: torch.dtype, device: torch.device):
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
    C, S, _, _ = _dct_tables(n, x.dtype, x.device)
    v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    V = torch.fft.rfft(v, dim=-1)
    re, im = V.real, V.imag
    lo = C * re + S * im  # y_0 .. y_{n//2}
    K = (n - 1) // 2
    hi = (S * re - C * im)[..., 1 : K + 1].flip(-1)  # y_{n-K} .. y_{n-1}
    return torch.cat([lo, hi], dim=-1)


def _idct2_torch(y: torch.Tensor) -> torch.Tensor:
    n = y.shape[-1]
    _, _, IC, IS = _dct_tables(n, y.dtype, y.device)
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
    pre, post = _k("dct_pre", x.dtype), _k("dct_split_post" if n % 2 == 0 else "dct_post", x.dtype)
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
    pre = _k("dct3_unsplit_pre" if even else "dct3_pre", y.dtype)
    post = _k("dct3_post", y.dtype)
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


class _DCTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _dct2_native(x)

    @staticmethod
    def backward(ctx, g):
        return idct2(g)  # orthonormal: the adjoint of DCT-II is its inverse, DCT-III


class _IDCTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y):
        return _idct2_native(y)

    @staticmethod
    def backward(ctx, g):
        return dct2(g)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dim (``scipy.fft.dct(x, norm="ortho")``)."""
    if x.numel() == 0:
        return x.clone()
    if _use_native(x):
        if x.requires_grad and torch.is_grad_enabled():
            return _DCTFn.apply(x)
        return _dct2_native(x)
    return _dct2_torch(x)


def idct2(y: torch.Tensor) -> torch.Tensor:
    """Inverse of ``dct2``: orthonormal DCT-III (``scipy.fft.idct(y, norm="ortho")``)."""
    if y.numel() == 0:
        return y.clone()
    if _use_native(y):
        if y.requires_grad and torch.is_grad_enabled():
            return _IDCTFn.apply(y)
        return _idct2_native(y)
    return _idct2_torch(y)


# ---------------------------------------------------------------- FFT as n reals

_SQRT2 = math.sqrt(2.0)


def _fft_real_torch(x: torch.Tensor) -> torch.Tensor:
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
        pack, s0 = _k("fft_split_pack", x.dtype), 1.0 / math.sqrt(n)
    else:
        pack = _k("fft_pack", x.dtype)
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
        unpack, g0 = _k("fft_unsplit_unpack", y.dtype), 1.0 / math.sqrt(n)
    else:
        unpack = _k("fft_unpack", y.dtype)
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


class _FFTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _fft_real_native(x)

    @staticmethod
    def backward(ctx, g):
        return ifft_real(g)  # orthonormal real map: adjoint = inverse


class _IFFTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y):
        return _ifft_real_native(y)

    @staticmethod
    def backward(ctx, g):
        return fft_real(g)


def fft_real(x: torch.Tensor) -> torch.Tensor:
    if x.numel() == 0:
        return x.clone()
    if _use_native(x):
        if x.requires_grad and torch.is_grad_enabled():
            return _FFTFn.apply(x)
        return _fft_real_native(x)
    return _fft_real_torch(x)


def ifft_real(y: torch.Tensor) -> torch.Tensor:
    """Inverse of ``fft_real``."""
    if y.numel() == 0:
        return y.clone()
    if _use_native(y):
        if y.requires_grad and torch.is_grad_enabled():
            return _IFFTFn.apply(y)
        return _ifft_real_native(y)
    return _ifft_real_torch(y)


# ---------------------------------------------------------------- bi-slope PAct (one pass each way)
#
# f(x) = a x+ - b x- + c per channel (dim 1 of (B, C, ...)). Autograd on that expression makes ~7
# passes over the activation forward and ~12 backward; the kernel makes one each (the backward also
# sums the three parameter gradients per channel). The same numbers up to float rounding.


def bislope_torch(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    shape = (1, -1, *([1] * (x.ndim - 2)))
    a, b, c = a.view(shape), b.view(shape), c.view(shape)
    return a * torch.relu(x) - b * torch.relu(-x) + c


def _bislope_ok(x, a, b, c) -> bool:
    return (x.ndim >= 2 and x.is_contiguous() and _use_native(x) and x.numel() > 0
            and all(_plain_like(p, x) for p in (a, b, c)))


_PLAIN = (torch.Tensor, torch.nn.Parameter)  # the parameters are Parameters; fake/functorch ones are not


def _plain_like(p: torch.Tensor, x: torch.Tensor) -> bool:
    """A parameter the kernels can read beside x: a plain contiguous CPU tensor of x's dtype."""
    return p.dtype == x.dtype and p.is_cpu and p.is_contiguous() and type(p) in _PLAIN and not _is_wrapped(p)


def _bislope_native(x, a, b, c):
    out = torch.empty_like(x)
    B, C = x.shape[0], x.shape[1]
    _k("bislope_fwd", x.dtype)(x.data_ptr(), out.data_ptr(), a.data_ptr(), b.data_ptr(), c.data_ptr(),
                               B, C, x.numel() // max(1, B * C), torch.get_num_threads())
    return out


class _BiSlopeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, b, c):
        ctx.save_for_backward(x, a, b)
        return _bislope_native(x, a, b, c)

    @staticmethod
    def backward(ctx, g):
        x, a, b = ctx.saved_tensors
        g = _c(g)
        B, C = x.shape[0], x.shape[1]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        sums = torch.empty(3, C, dtype=torch.float64)
        _k("bislope_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), 0 if gx is None else gx.data_ptr(), a.data_ptr(),
                                   b.data_ptr(), sums.data_ptr(), B, C, x.numel() // max(1, B * C),
                                   torch.get_num_threads())
        sums = sums.to(a.dtype)
        # f = a relu(x) + b min(x, 0) + c: df/da = x+, df/db = min(x, 0) (the x < 0 sum), df/dc = 1
        return gx, sums[0], sums[1], sums[2]


def bislope(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a·relu(x) − b·relu(−x) + c`` with (C,) parameters on dim 1 of x; one pass with the kernels."""
    if not _bislope_ok(x, a, b, c):
        return bislope_torch(x, a, b, c)
    if torch.is_grad_enabled() and (x.requires_grad or a.requires_grad or b.requires_grad or c.requires_grad):
        return _BiSlopeFn.apply(x, a, b, c)
    return _bislope_native(x, a, b, c)


# ---------------------------------------------------------------- BatchNorm + bi-slope, training
#
# BatchNorm2d in training mode followed by the bi-slope PAct, as one op: the batch statistics in one
# pass, the normalized and activated map written in a second (unfused, BatchNorm writes its output
# and the PAct reads it back); backward: one pass for the five parameter sums, one more for the
# input gradient only when the input needs one (a frozen CNN's first stage does not). The same
# numbers as ``bn(x)`` then ``bislope`` up to float rounding, running statistics updated alike.


def batchnorm_bislope_applies(bn, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> bool:
    """Training-mode affine ``nn.BatchNorm2d`` with running statistics on a contiguous 4-D map the
    kernels take (every parameter of x's dtype, plain and contiguous)."""
    return (isinstance(bn, torch.nn.BatchNorm2d) and bn.training and bn.affine and bn.track_running_stats
            and bn.running_mean is not None and x.ndim == 4 and x.shape[0] * x.shape[2] * x.shape[3] > 1
            and _bislope_ok(x, a, b, c) and _bislope_ok(x, a, bn.weight, bn.bias))


class _BNBiSlopeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, a, b, c, mean, inv):
        ctx.save_for_backward(x, gamma, beta, a, b, mean, inv)
        return _bnact_forward(x, gamma, beta, a, b, c, mean, inv)

    @staticmethod
    def backward(ctx, g):
        x, gamma, beta, a, b, mean, inv = ctx.saved_tensors
        g = _c(g)
        B, C = x.shape[0], x.shape[1]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        sums = torch.empty(5, C, dtype=torch.float64)
        _k("bnact_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), 0 if gx is None else gx.data_ptr(), mean.data_ptr(),
                                 inv.data_ptr(), gamma.data_ptr(), beta.data_ptr(), a.data_ptr(), b.data_ptr(),
                                 sums.data_ptr(), B, C, x.numel() // (B * C), torch.get_num_threads())
        sums = sums.to(x.dtype)
        return gx, sums[3], sums[4], sums[0], sums[1], sums[2], None, None


def batchnorm_bislope(x: torch.Tensor, bn: torch.nn.BatchNorm2d, a: torch.Tensor, b: torch.Tensor,
                      c: torch.Tensor) -> torch.Tensor:
    """``bislope(bn(x), a, b, c)`` for a training-mode BatchNorm2d (``batchnorm_bislope_applies``)."""
    B, C = x.shape[0], x.shape[1]
    mean, var = torch.empty(C, dtype=torch.float64), torch.empty(C, dtype=torch.float64)
    _k("bnact_stats", x.dtype)(x.data_ptr(), mean.data_ptr(), var.data_ptr(), B, C, x.numel() // (B * C),
                               torch.get_num_threads())
    n = x.numel() // C
    with torch.no_grad():  # as nn.BatchNorm2d.forward in training mode
        bn.num_batches_tracked.add_(1)
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(mean.to(bn.running_mean.dtype), alpha=m)
        bn.running_var.mul_(1 - m).add_((var * n / max(n - 1, 1)).to(bn.running_var.dtype), alpha=m)
    inv = torch.rsqrt(var + bn.eps)
    if torch.is_grad_enabled() and (x.requires_grad or any(t.requires_grad for t in (bn.weight, bn.bias, a, b, c))):
        return _BNBiSlopeFn.apply(x, bn.weight, bn.bias, a, b, c, mean, inv)
    return _bnact_forward(x, bn.weight, bn.bias, a, b, c, mean, inv)


def _bnact_forward(x, gamma, beta, a, b, c, mean, inv):
    y = torch.empty_like(x)
    B, C = x.shape[0], x.shape[1]
    _k("bnact_fwd", x.dtype)(x.data_ptr(), y.data_ptr(), mean.data_ptr(), inv.data_ptr(), gamma.data_ptr(),
                             beta.data_ptr(), a.data_ptr(), b.data_ptr(), c.data_ptr(), B, C,
                             x.numel() // (B * C), torch.get_num_threads())
    return y


# ---------------------------------------------------------------- 2x2 max pool (no index tensor)
#
# torch's max_pool2d writes an int64 index per output (twice the output's bytes) and its backward
# zero-fills, then scatters; the kernel recomputes each window's winner from the input instead.


def _pool_ok(x) -> bool:
    return x.ndim == 4 and x.is_contiguous() and _use_native(x) and x.numel() > 0 and x.shape[2] >= 2 and x.shape[3] >= 2


def _maxpool2_native(x):
    B, C, H, W = x.shape
    out = torch.empty(B, C, H // 2, W // 2, dtype=x.dtype)
    _k("maxpool2_fwd", x.dtype)(x.data_ptr(), out.data_ptr(), B * C, H, W, torch.get_num_threads())
    return out


class _MaxPool2Fn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _maxpool2_native(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        g = _c(g)
        B, C, H, W = x.shape
        gx = torch.empty_like(x)
        _k("maxpool2_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), gx.data_ptr(), B * C, H, W, torch.get_num_threads())
        return gx


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` on (B, C, H, W): the same values and gradients (first maximum of a
    window wins, NaN counts as the maximum); one pass each way with the kernels."""
    if not _pool_ok(x):
        return torch.nn.functional.max_pool2d(x, 2)
    if torch.is_grad_enabled() and x.requires_grad:
        return _MaxPool2Fn.apply(x)
    return _maxpool2_native(x)


# ---------------------------------------------------------------- a CNN stage's tail at evaluation
#
# norm (evaluation BatchNorm as a per-channel affine), bi-slope PAct, LoRA and the 2x2 max pool, in
# one pass over the stage's map (no full-resolution intermediate is written): see StageTail in
# csrc/fastmix.cpp. Evaluation only (no graph); the same numbers as the separate ops up to rounding.


def stage_tail_applies(z: torch.Tensor, *params) -> bool:
    """A contiguous (B, C, H, W) CPU map of at least 2x2, no graph wanted, every given parameter
    (None: that step is skipped) a plain contiguous tensor of z's dtype."""
    return (z.ndim == 4 and z.shape[2] >= 2 and z.shape[3] >= 2 and z.numel() > 0 and z.is_contiguous()
            and _use_native(z) and not (torch.is_grad_enabled() and z.requires_grad)
            and all(p is None or _plain_like(p, z) for p in params))


def stage_tail(z: torch.Tensor, scale=None, shift=None, a=None, b=None, c=None, U=None, Vt=None) -> torch.Tensor:
    """``max_pool2d(lora(bislope(scale·z + shift)), 2)`` on (B, C, H, W), without a graph: scale/shift
    (C,) (None: no affine), bi-slope a, b, c (C,) (None: no PAct), LoRA U (C, r) and Vt = Vᵀ (C, r)
    (None: no adapter; the map h + (h U) V at every pixel). Callers check ``stage_tail_applies``."""
    B, C, H, W = z.shape
    y = torch.empty(B, C, H // 2, W // 2, dtype=z.dtype)
    ptr = lambda p: 0 if p is None else p.data_ptr()  # noqa: E731 - null pointer: the step is skipped
    _k("stage_tail", z.dtype)(z.data_ptr(), y.data_ptr(), ptr(scale), ptr(shift), ptr(a), ptr(b), ptr(c), ptr(U),
                              ptr(Vt), B, C, H, W, 0 if U is None else U.shape[1], torch.get_num_threads())
    return y


# ---------------------------------------------------------------- LoRA on feature maps, training
#
# x + Vᵀ(Uᵀx) at every pixel of (B, C, ...) in the low-rank form, one image's (C, S) block at a time
# in cache (LoRAMap in csrc/fastmix.cpp): forward and backward read and write each map about once,
# with 12Cr FLOPs a pixel, where the merged (C, C) product makes 6C² and copies the map to and from
# a channels-first (C, B·S) layout. The same numbers as the expression up to float rounding.


def lora_map_applies(x: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> bool:
    """A contiguous (B, C, ...) map whose pixel count per image is a multiple of the vector width,
    with plain contiguous (C, r), (r, C) factors of its dtype."""
    if not (x.ndim > 2 and x.is_contiguous() and x.numel() > 0 and _use_native(x)):
        return False
    S = x.numel() // (x.shape[0] * x.shape[1])
    return S % _lanes(x) == 0 and _plain_like(U, x) and _plain_like(V, x)


_LANES: dict = {}


def _lanes(x: torch.Tensor) -> int:
    """Elements of x's dtype in one of the kernels' vector registers (asked of the library once)."""
    n = _LANES.get(x.dtype)
    if n is None:
        n = _LANES[x.dtype] = _native.lib().fb_vector_bytes() // x.element_size()
    return n


class _LoRAMapFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, U, V):
        B, C = x.shape[0], x.shape[1]
        S, r = x.numel() // (B * C), U.shape[1]
        Vt = V.T.contiguous()
        y, D = torch.empty_like(x), torch.empty(B, r, S, dtype=x.dtype)
        _k("lora_fwd", x.dtype)(x.data_ptr(), y.data_ptr(), D.data_ptr(), U.data_ptr(), Vt.data_ptr(), B, C, S, r,
                                torch.get_num_threads())
        ctx.save_for_backward(x, U, Vt, D)
        return y

    @staticmethod
    def backward(ctx, g):
        x, U, Vt, D = ctx.saved_tensors
        g = _c(g)
        B, C = x.shape[0], x.shape[1]
        S, r = x.numel() // (B * C), U.shape[1]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        gU, gV = torch.empty(C, r, dtype=torch.float64), torch.empty(r, C, dtype=torch.float64)
        _k("lora_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), D.data_ptr(), 0 if gx is None else gx.data_ptr(),
                                gU.data_ptr(), gV.data_ptr(), U.data_ptr(), Vt.data_ptr(), B, C, S, r,
                                torch.get_num_threads())
        return gx, gU.to(U.dtype), gV.to(U.dtype)


def lora_map(x: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``x + Vᵀ Uᵀ x`` over dim 1 of (B, C, ...) with autograd (callers check ``lora_map_applies``)."""
    return _LoRAMapFn.apply(x, U, V)


# ---------------------------------------------------------------- a frozen stage's fixed conv, structured
#
# The depthwise 3x3 filter bank then the WHT over channels (truncated to w outputs), computed as what it
# is (BankWHT in csrc/fastmix.cpp): 18CK + n2 log2 n2 FLOPs a pixel, where its dense (w, C, 3, 3) form
# makes 18wC (~10x more at C = 64, w = 128). Forward and the input gradient (the map has no parameter).


def bank_wht_applies(x: torch.Tensor, taps: torch.Tensor) -> bool:
    """A contiguous (B, C, H, W) CPU map and (K, 9) taps of its dtype."""
    return x.ndim == 4 and x.is_contiguous() and x.numel() > 0 and _use_native(x) and _plain_like(taps, x)


def _bank_wht_call(kind, src, taps, C, K, n2, w):
    B, _, H, W = src.shape
    out = torch.empty(B, w if kind == "fwd" else C, H, W, dtype=src.dtype)
    _k(f"bankwht_{kind}", src.dtype)(src.data_ptr(), out.data_ptr(), taps.data_ptr(), B, C, H, W, K, n2, w,
                                     torch.get_num_threads())
    return out


class _BankWHTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, taps, flipped, n2, w):
        ctx.meta = (taps, flipped, x.shape[1], n2, w)
        return _bank_wht_call("fwd", x, taps, x.shape[1], taps.shape[0], n2, w)

    @staticmethod
    def backward(ctx, g):
        taps, flipped, C, n2, w = ctx.meta
        return _bank_wht_call("bwd", _c(g), flipped, C, taps.shape[0], n2, w), None, None, None, None


def bank_wht(x: torch.Tensor, taps: torch.Tensor, flipped: torch.Tensor, n2: int, w: int) -> torch.Tensor:
    """The first ``w`` channels of ``H_{n2}`` applied over the channels of the fold to ``n2`` of the
    depthwise bank output: bank output c·K + j (filter j, (K, 9) ``taps``, on channel c) adds into
    channel (c·K + j) mod n2. ``flipped``: the taps reversed (the input gradient's correlation).
    Callers check ``bank_wht_applies``."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _BankWHTFn.apply(x, taps, flipped, n2, w)
    return _bank_wht_call("fwd", x, taps, x.shape[1], taps.shape[0], n2, w)


# ---------------------------------------------------------------- a frozen MLP block at evaluation
#
# bislope(scale·wht(x) + shift) on (B, n) rows in one call (WHTBlock in csrc/fastmix.cpp): at batch 1
# the three separate calls' fixed costs were most of a block's time. Evaluation only (no graph).


def wht_block_applies(x: torch.Tensor, *params) -> bool:
    """A contiguous (B, n) CPU batch, n a power of two, no graph wanted, (n,) plain parameters."""
    return (x.ndim == 2 and x.is_contiguous() and x.numel() > 0 and is_power_of_two(x.shape[1]) and _use_native(x)
            and not torch.is_grad_enabled() and all(_plain_like(p, x) for p in params))


def wht_block(x: torch.Tensor, scale, shift, a, b, c) -> torch.Tensor:
    """``bislope(wht(x)·scale + shift)`` with (n,) per-channel parameters; callers check ``wht_block_applies``."""
    rows, n = x.shape
    y = torch.empty_like(x)
    _k("wht_block", x.dtype)(x.data_ptr(), y.data_ptr(), scale.data_ptr(), shift.data_ptr(), a.data_ptr(), b.data_ptr(),
                             c.data_ptr(), rows, n, 1.0 / math.sqrt(n), torch.get_num_threads())
    return y
