"""Build and load the CPU kernels in ``csrc/fastmix.cpp`` at first use, or say why not; and the
rules every caller of a kernel shares (``usable``, ``plain_like``, ``kernel``, ``torch_only``).

The kernels have a plain C ABI and are called through ctypes, so no PyTorch headers are compiled:
the build is one ``c++ -O3 -march=native`` call of about a second, cached per source, compiler and
CPU in a user cache dir. Anything that goes wrong (no compiler, no write access, a wrong result in
the self-test) gives one warning and ``lib() is None``; callers then use the pure-PyTorch path.
The fixed transforms (``fast.py``) and the fused layer kernels (``fused.py``) call them.

Environment:
- ``FROZEN_BENCH_NO_EXT=1``: never build or use the kernels (pure-PyTorch path).
- ``FROZEN_BENCH_CACHE``: cache directory (default ``$XDG_CACHE_HOME/frozen_bench`` or
  ``~/.cache/frozen_bench``).
- ``CXX``: compiler to use (default: the first of ``c++``, ``g++``, ``clang++`` on PATH).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import torch

from frozen_bench.atomic import atomic_path

ABI_VERSION = 8  # must match FB_ABI_VERSION in csrc/fastmix.cpp
SOURCE = Path(__file__).with_name("csrc") / "fastmix.cpp"

# Tried in order: the first that compiles wins. -march=native is safe because the library is
# cached per CPU (see _cpu_id); without OpenMP the kernels still work, on one thread.
_FLAG_SETS = (
    ["-O3", "-march=native", "-fopenmp"],
    ["-O3", "-fopenmp"],
    ["-O3", "-march=native"],
    ["-O3"],
)
_BASE_FLAGS = ["-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden"]

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_error: str | None = None


def disabled() -> bool:
    return os.environ.get("FROZEN_BENCH_NO_EXT", "").strip().lower() in ("1", "true", "yes", "on")


def lib() -> ctypes.CDLL | None:
    """The loaded kernel library, or None (disabled, or the build failed: warned once)."""
    global _lib, _tried, _error
    if disabled():
        return None
    if _tried:
        return _lib
    with _lock:
        if not _tried:
            try:
                _lib = _load()
            except Exception as e:  # any failure means "use the PyTorch path", never a crash
                _error = f"{type(e).__name__}: {e}"
                warnings.warn(
                    f"frozen_bench: compiled CPU kernels unavailable ({_error}); "
                    "using the pure-PyTorch transforms (slower). Set FROZEN_BENCH_NO_EXT=1 to "
                    "silence this.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                _lib = None
            _tried = True
    return _lib


def tried() -> bool:
    """Whether this process has asked for the kernels yet (recording the backend must not build them)."""
    return _tried


def status() -> str:
    """One line for logs and benchmark tables: which backend the CPU transforms use."""
    if disabled():
        return "torch (FROZEN_BENCH_NO_EXT set)"
    lb = lib()
    if lb is None:
        return f"torch (kernel build failed: {_error})"
    return f"native ({8 * lb.fb_vector_bytes()}-bit vectors)"


def _cache_dir() -> Path:
    env = os.environ.get("FROZEN_BENCH_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "frozen_bench"


def _compiler() -> str:
    for cand in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    raise RuntimeError("no C++ compiler found (set CXX, or install g++)")


def _cpu_id() -> str:
    """What -march=native depends on: a cache shared by different machines must not mix them."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor() + platform.machine()


def _compile(cxx: str, flags: list[str], out: Path) -> None:
    # Build under a temporary name, then rename: concurrent workers never load a half-written file.
    with atomic_path(out) as tmp:
        cmd = [cxx, *flags, *_BASE_FLAGS, str(SOURCE), "-o", str(tmp)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")


def _load() -> ctypes.CDLL:
    import torch  # torch first: its libgomp is then the one the kernels link to (one thread pool)

    src = SOURCE.read_bytes()
    cxx = _compiler()
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=cache)
        probe.close()
    except OSError:
        cache = Path(tempfile.gettempdir()) / f"frozen_bench-{os.getuid() if hasattr(os, 'getuid') else 0}"
        cache.mkdir(parents=True, exist_ok=True)
    errors = []
    for flags in _FLAG_SETS:
        key = hashlib.sha256(
            b"\0".join(
                [src, cxx.encode(), " ".join(flags).encode(), _cpu_id().encode(),
                 sys.platform.encode(), platform.machine().encode(), torch.__version__.encode()]
            )
        ).hexdigest()[:16]
        path = cache / f"fastmix-{key}.so"
        try:
            if not path.exists():
                _compile(cxx, flags, path)
            lb = ctypes.CDLL(str(path))
            _declare(lb)
            if lb.fb_abi_version() != ABI_VERSION:
                raise RuntimeError(f"ABI {lb.fb_abi_version()} != {ABI_VERSION}")
            _self_test(lb)
            return lb
        except Exception as e:
            errors.append(f"{' '.join(flags)}: {e}")
    raise RuntimeError("; ".join(errors))


def _declare(lb: ctypes.CDLL) -> None:
    P, I64, D, INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    lb.fb_abi_version.restype = INT
    lb.fb_vector_bytes.restype = INT
    for s in ("f32", "f64"):
        getattr(lb, f"fb_wht_{s}").argtypes = [P, P, I64, I64, D, INT]
        getattr(lb, f"fb_dct_pre_{s}").argtypes = [P, P, I64, I64, INT]
        getattr(lb, f"fb_dct_post_{s}").argtypes = [P, P, P, P, I64, I64, INT]
        getattr(lb, f"fb_dct3_pre_{s}").argtypes = [P, P, P, P, I64, I64, INT]
        getattr(lb, f"fb_dct3_post_{s}").argtypes = [P, P, I64, I64, INT]
        getattr(lb, f"fb_fft_pack_{s}").argtypes = [P, P, I64, I64, D, INT]
        getattr(lb, f"fb_fft_unpack_{s}").argtypes = [P, P, I64, I64, D, INT]
        getattr(lb, f"fb_fft_split_pack_{s}").argtypes = [P, P, P, P, I64, I64, D, D, INT]
        getattr(lb, f"fb_fft_unsplit_unpack_{s}").argtypes = [P, P, P, P, I64, I64, D, D, INT]
        getattr(lb, f"fb_dct_split_post_{s}").argtypes = [P, P, P, P, P, P, I64, I64, INT]
        getattr(lb, f"fb_dct3_unsplit_pre_{s}").argtypes = [P, P, P, P, P, P, I64, I64, INT]
        getattr(lb, f"fb_bislope_fwd_{s}").argtypes = [P, P, P, P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_bislope_bwd_{s}").argtypes = [P, P, P, P, P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_maxpool2_fwd_{s}").argtypes = [P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_maxpool2_bwd_{s}").argtypes = [P, P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_bnact_stats_{s}").argtypes = [P, P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_bnact_fwd_{s}").argtypes = [P, P, P, P, P, P, P, P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_bnact_bwd_{s}").argtypes = [P, P, P, P, P, P, P, P, P, P, I64, I64, I64, INT]
        getattr(lb, f"fb_stage_tail_{s}").argtypes = [P, P, P, P, P, P, P, P, P, I64, I64, I64, I64, I64, INT]
        getattr(lb, f"fb_lora_fwd_{s}").argtypes = [P, P, P, P, P, I64, I64, I64, I64, INT]
        getattr(lb, f"fb_lora_bwd_{s}").argtypes = [P, P, P, P, P, P, P, P, I64, I64, I64, I64, INT]
        getattr(lb, f"fb_bankwht_fwd_{s}").argtypes = [P, P, P, I64, I64, I64, I64, I64, I64, I64, INT]
        getattr(lb, f"fb_bankwht_bwd_{s}").argtypes = [P, P, P, I64, I64, I64, I64, I64, I64, I64, INT]
        getattr(lb, f"fb_wht_block_{s}").argtypes = [P, P, P, P, P, P, P, I64, I64, D, INT]
        for name in ("wht_block", "bankwht_fwd", "bankwht_bwd", "lora_fwd", "lora_bwd", "stage_tail", "bnact_stats", "bnact_fwd", "bnact_bwd", "bislope_fwd", "bislope_bwd", "maxpool2_fwd", "maxpool2_bwd", "wht", "dct_pre", "dct_post", "dct3_pre", "dct3_post", "fft_pack", "fft_unpack",
                     "fft_split_pack", "fft_unsplit_unpack", "dct_split_post", "dct3_unsplit_pre"):
            getattr(lb, f"fb_{name}_{s}").restype = None


def _self_test(lb: ctypes.CDLL) -> None:
    """A miscompiled kernel must not silently corrupt results: check WHT against H_n itself."""
    import torch

    from frozen_bench.nn.matrices import sylvester_hadamard

    for n in (1, 8, 64, 1024):
        x = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
        want = x @ sylvester_hadamard(n) / n**0.5
        for dt, fn in ((torch.float64, lb.fb_wht_f64), (torch.float32, lb.fb_wht_f32)):
            xi = x.to(dt).contiguous()
            out = torch.empty_like(xi)
            fn(xi.data_ptr(), out.data_ptr(), 3, n, n**-0.5, 1)
            if not torch.allclose(out.double(), want, atol=1e-4, rtol=1e-4):
                raise RuntimeError(f"self-test failed (wht n={n}, {dt})")


# ---------------------------------------------------------------- what may call a kernel

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


def usable(x: torch.Tensor) -> bool:
    """Whether the kernels can compute on ``x``: a plain, real CPU float32/float64 tensor, with the
    library built and ``torch_only`` not in force."""
    # Only plain, real CPU tensors: the kernels read raw memory, which fake/functorch/meta
    # tensors (torch.compile, vmap, torch.func.grad) do not have; those take the PyTorch path.
    # Cheapest checks first: this runs on every call.
    return (
        not _TORCH_ONLY
        and x.dtype in _NATIVE_DTYPES
        and x.is_cpu
        and type(x) is torch.Tensor
        and not _is_wrapped(x)
        and lib() is not None
    )


# (kernel name, dtype) -> ctypes function, looked up once. At batch 256, n = 1024 a transform
# takes ~50 us, so every microsecond of Python around the kernel shows in the ratio.
_K: dict = {}


def kernel(name: str, dtype: torch.dtype):
    """The library's ``fb_<name>_f32|f64`` for ``dtype``."""
    f = _K.get((name, dtype))
    if f is None:
        sfx = "f32" if dtype == torch.float32 else "f64"
        f = _K[(name, dtype)] = getattr(lib(), f"fb_{name}_{sfx}")
    return f


_PLAIN = (torch.Tensor, torch.nn.Parameter)  # the parameters are Parameters; fake/functorch ones are not


def plain_like(p: torch.Tensor, x: torch.Tensor) -> bool:
    """A parameter the kernels can read beside x: a plain contiguous CPU tensor of x's dtype."""
    return p.dtype == x.dtype and p.is_cpu and p.is_contiguous() and type(p) in _PLAIN and not _is_wrapped(p)
