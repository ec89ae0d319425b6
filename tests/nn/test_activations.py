import pytest
import torch

from frozen_bench.nn.activations import ACTIVATIONS, MonotoneSpline, make_activation

C = 6
EXPECTED_PARAMS = {"identity": 0, "relu": 0, "leaky_relu": 0, "prelu": 1, "bislope": 3, "pwl3": 5, "spline": 5, "glu": 2}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_param_count_per_channel(name):
    act = make_activation(name, C)
    assert sum(p.numel() for p in act.parameters()) == EXPECTED_PARAMS[name] * C


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_shapes_and_gradients_reach_parameters(name):
    act = make_activation(name, C)
    x = torch.randn(8, C, 3, requires_grad=True)
    y = act(x)
    assert y.shape == x.shape
    (y ** 2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p in act.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("name", ["bislope", "pwl3"])
def test_relu_like_at_init(name):
    x = torch.linspace(-3, 3, 61).repeat(C, 1).T.contiguous()  # (61, C)
    y = make_activation(name, C)(x)
    torch.testing.assert_close(y, torch.nn.functional.leaky_relu(x, 0.01))


def test_glu_is_silu_at_init():
    x = torch.randn(10, C)
    torch.testing.assert_close(make_activation("glu", C)(x), torch.nn.functional.silu(x))


def test_spline_identity_at_init_and_linear_outside_grid():
    x = torch.linspace(-6, 6, 121).repeat(C, 1).T.contiguous()
    torch.testing.assert_close(make_activation("spline", C)(x), x, atol=1e-5, rtol=1e-5)


def test_spline_stays_monotone_after_random_perturbation():
    torch.manual_seed(0)
    s = MonotoneSpline(C, knots=6)
    with torch.no_grad():
        for p in s.parameters():
            p.add_(torch.randn_like(p) * 3.0)
    x = torch.linspace(-5, 5, 2001).repeat(C, 1).T.contiguous()  # (N, C), sorted per channel
    y = s(x)
    assert (y[1:] - y[:-1] >= -1e-6).all()
    assert torch.isfinite(y).all()


def test_per_channel_parameters_act_per_channel():
    act = make_activation("bislope", 2)
    with torch.no_grad():
        act.a[1] = 3.0
    y = act(torch.ones(1, 2))
    assert y[0, 0].item() == pytest.approx(1.0) and y[0, 1].item() == pytest.approx(3.0)
