import numpy as np
import pytest
import scipy.fft
import scipy.linalg
import torch

from frozen_bench.nn.matrices import haar_orthogonal, sylvester_hadamard
from frozen_bench.nn.transforms import TRANSFORMS, make_transform, transform_out_dim


@pytest.mark.parametrize("n", [1, 2, 16, 64, 256])
def test_wht_matches_scipy_hadamard_natural_order(n):
    x = torch.randn(4, n, dtype=torch.float64)
    ref = x.numpy() @ scipy.linalg.hadamard(n) / np.sqrt(n)
    np.testing.assert_allclose(make_transform("wht", n)(x).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("n", [3, 8, 10, 64, 100])
def test_dct_matches_scipy_dct2_ortho(n):
    x = torch.randn(4, n, dtype=torch.float64)
    np.testing.assert_allclose(make_transform("dct", n)(x).numpy(), scipy.fft.dct(x.numpy(), norm="ortho"), atol=1e-12)


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("n", [7, 64, 100])
def test_orthonormal_no_params_and_width(name, n):
    t = make_transform(name, n, seed=3)
    assert sum(p.numel() for p in t.parameters()) == 0
    assert t.out_dim >= n and (name == "wht" or t.out_dim == n)
    x = torch.randn(5, n, dtype=torch.float64)
    y = t(x)
    assert y.shape == (5, t.out_dim)
    # norm preserving (zero padding keeps the norm too)
    torch.testing.assert_close(y.norm(dim=1), x.norm(dim=1), rtol=1e-10, atol=1e-10)
    # linear and injective: the padded basis maps to orthonormal rows
    basis = torch.eye(n, dtype=torch.float64)
    gram = t(basis) @ t(basis).T
    torch.testing.assert_close(gram, torch.eye(n, dtype=torch.float64), rtol=1e-9, atol=1e-9)


def test_wht_pads_to_power_of_two():
    t = make_transform("wht", 100)
    assert t.out_dim == 128


def test_fft_real_matches_numpy_rfft():
    n = 16
    x = torch.randn(3, n, dtype=torch.float64)
    X = np.fft.rfft(x.numpy(), norm="ortho")
    y = make_transform("fft", n)(x).numpy()
    np.testing.assert_allclose(y[:, 0], X[:, 0].real, atol=1e-12)
    np.testing.assert_allclose(y[:, 1:n // 2], np.sqrt(2) * X[:, 1:n // 2].real, atol=1e-12)
    np.testing.assert_allclose(y[:, n // 2], X[:, n // 2].real, atol=1e-12)
    np.testing.assert_allclose(y[:, n // 2 + 1:], np.sqrt(2) * X[:, 1:n // 2].imag, atol=1e-12)


def test_random_orth_regenerated_from_seed_not_stored():
    a, b, c = make_transform("random_orth", 32, seed=1), make_transform("random_orth", 32, seed=1), make_transform("random_orth", 32, seed=2)
    x = torch.randn(2, 32)
    torch.testing.assert_close(a(x), b(x))
    assert not torch.allclose(a(x), c(x))
    assert a.state_dict() == {}  # nothing to save but the seed (in the config)
    assert a.frozen_bytes() == 8


def test_unknown_transform_lists_choices():
    with pytest.raises(ValueError, match="choose one of dct, fft, identity, random_orth, wht"):
        make_transform("hadamardish", 8)


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("n", [1, 5, 64, 100])
def test_out_dim_without_building_the_transform(name, n):
    assert transform_out_dim(name, n) == make_transform(name, n).out_dim
    with pytest.raises(ValueError, match="positive"):
        transform_out_dim(name, 0)


def test_the_fixed_matrices():
    for n in (1, 2, 8, 64):
        np.testing.assert_array_equal(sylvester_hadamard(n).numpy(), scipy.linalg.hadamard(n))
    with pytest.raises(ValueError, match="power-of-two"):
        sylvester_hadamard(6)
    q = haar_orthogonal(16, seed=4)
    torch.testing.assert_close(q @ q.T, torch.eye(16, dtype=torch.float64))
    assert torch.equal(q, haar_orthogonal(16, seed=4)) and not torch.equal(q, haar_orthogonal(16, seed=5))
