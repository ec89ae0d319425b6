"""frozen_bench.nn.fast against scipy/numpy references, on both the compiled and the PyTorch path."""

import math
import warnings

import numpy as np
import pytest
import scipy.fft
import scipy.linalg
import torch

from frozen_bench.nn import fast, native

BACKENDS = ["native", "torch"]
POW2 = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096]
ANY_N = [1, 2, 3, 5, 8, 17, 64, 100, 127, 1000, 1024, 4096]
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-11, atol=1e-11)}


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run a test on one path; the native one must really be used, not silently skipped."""
    if request.param == "torch":
        monkeypatch.setenv("FROZEN_BENCH_NO_EXT", "1")
    else:
        monkeypatch.delenv("FROZEN_BENCH_NO_EXT", raising=False)
        if native.lib() is None:
            pytest.skip(f"compiled kernels unavailable: {native.status()}")
    assert fast.backend() == request.param
    return request.param


def rand(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


def fft_real_ref(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    X = np.fft.rfft(x, norm="ortho")
    K = (n - 1) // 2
    parts = [X.real[..., :1], math.sqrt(2) * X.real[..., 1 : K + 1]]
    if n % 2 == 0:
        parts.append(X.real[..., n // 2 : n // 2 + 1])
    parts.append(math.sqrt(2) * X.imag[..., 1 : K + 1])
    return np.concatenate(parts, -1)


def check(got: torch.Tensor, want: np.ndarray, dtype):
    assert got.dtype == dtype
    np.testing.assert_allclose(got.double().numpy(), want, **TOL[dtype])


def test_kernels_build_where_a_compiler_exists(monkeypatch):
    monkeypatch.delenv("FROZEN_BENCH_NO_EXT", raising=False)
    try:
        native._compiler()
    except RuntimeError:
        pytest.skip("no C++ compiler on this machine")
    assert native.lib() is not None, native.status()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", POW2)
def test_wht_matches_scipy(backend, dtype, n):
    x = rand((3, 2, n), dtype, seed=n)
    want = x.double().numpy() @ scipy.linalg.hadamard(n) / math.sqrt(n)
    check(fast.wht(x), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", ANY_N)
def test_dct_and_inverse_match_scipy(backend, dtype, n):
    x = rand((3, 2, n), dtype, seed=n)
    xn = x.double().numpy()
    check(fast.dct2(x), scipy.fft.dct(xn, norm="ortho"), dtype)
    check(fast.idct2(x), scipy.fft.idct(xn, norm="ortho"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", ANY_N)
def test_fft_real_and_inverse_match_numpy(backend, dtype, n):
    x = rand((3, 2, n), dtype, seed=n)
    check(fast.fft_real(x), fft_real_ref(x.double().numpy()), dtype)
    check(fast.fft_real(fast.ifft_real(x)), x.double().numpy(), dtype)


@pytest.mark.parametrize("name", ["wht", "dct2", "fft_real", "idct2", "ifft_real"])
def test_norm_preserved(backend, name):
    x = rand((64, 512), torch.float32, seed=1)
    y = getattr(fast, name)(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["wht", "dct2", "fft_real", "idct2", "ifft_real"])
def test_gradients(backend, name):
    f = getattr(fast, name)
    for n in ([1, 2, 8, 64] if name == "wht" else [1, 2, 5, 8, 9, 64]):
        x = rand((3, n), torch.float64, seed=n).requires_grad_()
        assert torch.autograd.gradcheck(f, (x,))
        if n <= 9:
            assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("name", ["wht", "dct2", "fft_real"])
def test_float32_backward_is_the_transpose(backend, name):
    # On the native path backward is a separate kernel call (the transpose): check it at a size the
    # tiny gradcheck cases do not reach, against the dense matrix of the map.
    f = getattr(fast, name)
    n = 1024
    m = f(torch.eye(n, dtype=torch.float64))  # row i = f(e_i), so f(x) = x @ m
    x = rand((4, n), torch.float32, seed=3).requires_grad_()
    g = rand((4, n), torch.float32, seed=4)
    (grad,) = torch.autograd.grad(f(x), x, g)
    torch.testing.assert_close(grad.double(), g.double() @ m.T, rtol=1e-5, atol=1e-5)


def test_paths_agree_and_accept_any_layout(monkeypatch):
    if native.lib() is None:
        pytest.skip("compiled kernels unavailable")
    base = rand((256, 48), torch.float32, seed=5)
    x = base.T  # (48, 256), not contiguous
    outs = {}
    for mode in BACKENDS:
        monkeypatch.setenv("FROZEN_BENCH_NO_EXT", "1" if mode == "torch" else "0")
        outs[mode] = [fast.wht(x), fast.dct2(x), fast.fft_real(x), fast.wht(x[:, 128:])]
    for a, b in zip(*outs.values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_native_is_deterministic_across_thread_counts(monkeypatch):
    monkeypatch.delenv("FROZEN_BENCH_NO_EXT", raising=False)
    if native.lib() is None:
        pytest.skip("compiled kernels unavailable")
    x = rand((512, 1024), torch.float32, seed=6)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = [fast.wht(x), fast.dct2(x), fast.fft_real(x)]
        torch.set_num_threads(max(2, before))
        many = [fast.wht(x), fast.dct2(x), fast.fft_real(x)]
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one, many):
        assert torch.equal(a, b)


def test_edge_shapes(backend):
    assert fast.wht(torch.zeros(0, 16)).shape == (0, 16)
    assert fast.dct2(torch.zeros(0, 5)).shape == (0, 5)
    assert fast.fft_real(torch.zeros(2, 0)).shape == (2, 0)
    with pytest.raises(ValueError):
        fast.wht(torch.zeros(2, 12))


def test_other_dtypes_take_the_torch_path():
    x = rand((4, 64), torch.float32, seed=7)
    torch.testing.assert_close(fast.wht(x.to(torch.bfloat16)).float(), fast.wht(x), rtol=0.05, atol=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ["wht", "dct2", "fft_real"])
def test_cuda_matches_cpu(name):
    x = rand((8, 256), torch.float32, seed=8)
    f = getattr(fast, name)
    torch.testing.assert_close(f(x.cuda()).cpu(), f(x), rtol=1e-4, atol=1e-4)


def test_failed_build_warns_once_and_falls_back(tmp_path, monkeypatch):
    broken = tmp_path / "fastmix.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.delenv("FROZEN_BENCH_NO_EXT", raising=False)
    monkeypatch.setenv("FROZEN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "SOURCE", broken)
    monkeypatch.setattr(native, "_FLAG_SETS", (["-O0"],))
    monkeypatch.setattr(native, "_lib", None)
    monkeypatch.setattr(native, "_tried", False)
    monkeypatch.setattr(native, "_error", None)
    x = rand((2, 8), torch.float64)
    with pytest.warns(RuntimeWarning, match="compiled CPU kernels unavailable"):
        y = fast.wht(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast.wht(x)  # no second warning
    check(y, x.numpy() @ scipy.linalg.hadamard(8) / math.sqrt(8), torch.float64)
    assert fast.backend() == "torch" and "build failed" in native.status()


def test_fresh_build_into_empty_cache(tmp_path, monkeypatch):
    """What a fresh install does on first use: compile the shipped source into the user cache."""
    try:
        native._compiler()
    except RuntimeError:
        pytest.skip("no C++ compiler on this machine")
    monkeypatch.setenv("FROZEN_BENCH_CACHE", str(tmp_path))
    lb = native._load()
    assert lb.fb_abi_version() == native.ABI_VERSION
    assert len(list(tmp_path.glob("fastmix-*.so"))) == 1


@pytest.mark.parametrize("name", ["wht", "dct2", "fft_real", "idct2", "ifft_real"])
def test_odd_storage_offset(backend, name):
    # A contiguous view starting at an odd element: the even-n FFT path views rows as complex pairs.
    x = rand((1 + 4 * 64,), torch.float32, seed=9)[1:].view(4, 64)
    f = getattr(fast, name)
    torch.testing.assert_close(f(x), f(x.clone()), rtol=0, atol=0)


@pytest.mark.parametrize("n", [64, 65])
def test_row_chunking_matches_whole_batch(monkeypatch, n):
    # Large batches are processed in row chunks (cache blocking); force tiny chunks.
    monkeypatch.delenv("FROZEN_BENCH_NO_EXT", raising=False)
    if native.lib() is None:
        pytest.skip("compiled kernels unavailable")
    x = rand((3, 7, n), torch.float64, seed=10)  # 21 rows: chunks of 8, 8, 5
    want = {f: getattr(fast, f)(x) for f in ("dct2", "idct2", "fft_real", "ifft_real")}
    monkeypatch.setattr(fast, "_CHUNK_BYTES", 1)
    for f, w in want.items():
        torch.testing.assert_close(getattr(fast, f)(x), w, rtol=0, atol=1e-13)
    check(fast.dct2(x), scipy.fft.dct(x.numpy(), norm="ortho"), torch.float64)


@pytest.mark.parametrize("fn", [fast.wht, fast.dct2])
def test_tables_first_built_in_inference_mode_still_serve_autograd(fn, monkeypatch):
    # the pure-torch path caches its Hadamard factors and DCT tables: an evaluation under
    # torch.inference_mode() that fills the cache first must not break a later training step
    monkeypatch.setattr(fast, "_factor_cache", {})
    monkeypatch.setattr(fast, "_dct_cache", {})
    with native.torch_only():
        with torch.inference_mode():
            fn(torch.randn(2, 64, dtype=torch.float64))
        x = torch.randn(2, 64, dtype=torch.float64, requires_grad=True)
        fn(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
