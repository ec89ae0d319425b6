"""dataset=functions and the exact linear-region counter."""

import pytest
import torch
from torch import nn

from frozen_bench.data import DatasetError, load_dataset
from frozen_bench.models.function_net import FunctionNet
from frozen_bench.nn.regions import breakpoints, linear_pieces, linear_regions

torch.set_num_threads(1)


def _set(lin, w, b):
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w, dtype=torch.float32))
        lin.bias.copy_(torch.tensor(b, dtype=torch.float32))


def test_hand_built_one_layer_known_breakpoints():
    # relu(x+1), relu(x), relu(-x+2): kinks at -1, 0, 2
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))
    _set(net[0], [[1.0], [1.0], [-1.0]], [1.0, 0.0, 2.0])
    _set(net[2], [[1.0, 2.0, 1.0]], [0.0])
    assert linear_regions(net, -5, 5) == 4
    assert breakpoints(net, -5, 5) == pytest.approx([-1.0, 0.0, 2.0])
    assert linear_regions(net, -0.5, 5) == 3  # the kink at -1 is outside
    assert linear_regions(net, 3, 5) == 1
    _set(net[2], [[1.0, 2.0, 0.0]], [0.0])  # the x=2 neuron no longer reaches the output
    assert linear_regions(net, -5, 5) == 3


def test_hand_built_two_layers_merges_cancelled_kink():
    # layer 2 sees |x| - 1 (kink at 0), then relu: relu(|x| - 1) has kinks at ±1 only,
    # the kink at 0 lies in the flat part and must not count
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1), nn.LeakyReLU(0.0), nn.Linear(1, 1))
    _set(net[0], [[1.0], [-1.0]], [0.0, 0.0])
    _set(net[2], [[1.0, 1.0]], [-1.0])
    _set(net[4], [[3.0]], [0.5])
    pieces = linear_pieces(net, -5, 5)
    assert len(pieces) == 3
    assert breakpoints(net, -5, 5) == pytest.approx([-1.0, 1.0])
    assert [p[2] for p in pieces] == pytest.approx([12.5, 0.5, 0.5])  # y at each piece's left end


@pytest.mark.parametrize("mixing,activation", [("dense", "relu"), ("dense", "leaky_relu"), ("dct", "pwl3"),
                                               ("wht", "bislope"), ("dense", "prelu")])
def test_pieces_match_the_network(mixing, activation):
    torch.manual_seed(3)
    net = FunctionNet(hidden_dim=8, hidden_layers=3, activation=activation, mixing=mixing)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))  # move pwl3 knots / slopes off their init
    pieces = linear_pieces(net, -4, 4)
    assert len(pieces) > 1
    # each piece is exactly the network on its interval; neighbours have different slopes
    for x0, x1, y0, y1 in pieces:
        x = torch.linspace(x0, x1, 7, dtype=torch.float64)[1:-1, None]
        line = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        assert torch.allclose(net.double()(x), line, atol=1e-6)
        net.float()
    slopes = [(y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in pieces]
    assert all(abs(a - b) > 1e-9 for a, b in zip(slopes, slopes[1:]))


def test_smooth_activation_is_refused():
    net = FunctionNet(hidden_dim=4, hidden_layers=1, activation="glu")
    with pytest.raises(ValueError, match="not piecewise linear"):
        linear_regions(net, -1, 1)


def test_functions_dataset_values_and_errors():
    d = load_dataset({"name": "functions", "function": "lin", "samples": 100})
    assert d.synthetic and d.task == "regression" and d.name == "synthetic_fn_lin"
    assert torch.allclose(d.y_train, 2 * d.x_train + 8)
    assert len(d.x_train) + len(d.x_val) + len(d.x_test) == 100
    assert d.x_train.shape[1:] == (1,) and d.x_train.min() >= -5 and d.x_train.max() < 5
    s = load_dataset({"name": "functions", "function": "step_shift", "samples": 50})
    assert torch.equal(s.y_test, (s.x_test > 2).float())
    with pytest.raises(DatasetError, match="choose one of exp, exp_neg, log, inv, lin, sin, step, inv_shift, step_shift"):
        load_dataset({"name": "functions", "function": "cosh"})
    with pytest.raises(DatasetError, match="undefined"):
        load_dataset({"name": "functions", "function": "log"})  # log on [-5, 5)
    inv = load_dataset({"name": "functions", "function": "inv"})  # 10001 points: 0 is not on the grid
    assert torch.isfinite(inv.y_train).all()
