"""Weight feedback: shapes, the explicit gradient choice, and an O(n) structured projection."""

import pytest
import torch

from frozen_bench.models.weightnet import SRHTProjection, WeightNet, pool_grid
from frozen_bench.nn import fast

torch.set_num_threads(1)


@pytest.mark.parametrize("feedback", ["none", "maxpool", "projection"])
def test_shapes_and_fc1_inputs(feedback):
    torch.manual_seed(0)
    net = WeightNet((1, 28, 28), 10, feedback=feedback, feedback_dim=26)
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert net.fc1.in_features == 4 * 4 * 10 + (0 if feedback == "none" else 26)  # the notebook's 160 (+ dx)
    if feedback != "none":
        assert net.feedback_vector().shape == (26,)


def test_maxpool_is_the_max_over_blocks():
    net = WeightNet((1, 28, 28), 10, feedback="maxpool", feedback_dim=26)
    m = torch.cat([net.fc1.weight, net.fc2.weight.t()], 1).detach()
    assert pool_grid(26) == (2, 13)
    fb = net.feedback_vector()
    assert fb.max() == m.max() and torch.all(fb <= m.max())
    assert fb[0] == m[:25, : -(-m.shape[1] // 13)].max()  # top-left block of the adaptive grid


@pytest.mark.parametrize("feedback", ["maxpool", "projection"])
def test_feedback_grad_is_explicit(feedback):
    off = WeightNet((1, 28, 28), 10, feedback=feedback, feedback_grad=False)
    assert not off.feedback_vector().requires_grad  # the notebook's .data: no gradient path
    on = WeightNet((1, 28, 28), 10, feedback=feedback, feedback_grad=True)
    on.feedback_vector().sum().backward()
    assert on.fc1.weight.grad is not None and on.fc1.weight.grad.abs().sum() > 0
    # with feedback_grad=false the fc2 gradient comes from the data path only: differs from true
    torch.manual_seed(0)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    on.load_state_dict(off.state_dict())
    grads = []
    for net in (off, on):
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads.append(net.fc2.weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_srht_matches_its_matrix_and_preserves_norms():
    p = SRHTProjection(n=40, k=8, seed=1)
    dense = torch.stack([p(e) for e in torch.eye(40)], 1)  # (8, 40)
    h = torch.tensor([[(-1) ** bin(i & j).count("1") for j in range(64)] for i in range(64)], dtype=torch.float32) / 8
    explicit = (h * p.signs)[p.idx][:, :40] * p.scale
    assert torch.allclose(dense, explicit, atol=1e-5)
    # norm-preserving on average (a JL-style embedding): E|Pv|^2 = |v|^2
    v = torch.randn(1000, 40)
    ratio = torch.stack([p(r).norm() / r.norm() for r in v]).pow(2).mean()
    assert 0.7 < ratio < 1.3


def test_cifar_sized_projection_is_o_n_memory():
    # the notebook's CIFAR projection: n = (1250 + 460 + 10) * 500 inputs to k = 460
    n, k = (1250 + 460 + 10) * 500, 460
    p = SRHTProjection(n, k)
    assert p.fixed_numel() == fast.next_power_of_two(n) + k < 2 * n  # ~1M numbers
    assert n * k * 4 > 1.5e9  # the dense matrix it replaces: ~1.6 GB of float32
    assert p(torch.randn(n)).shape == (k,)
