"""Frozen(layer): zero gradient, out of the optimizer, weights bit-identical after training."""

import copy

import torch
from torch import nn

from frozen_bench.train import measure as M
from frozen_bench.data.bundle import DataBundle
from frozen_bench.models.frozen_layer import FrozenLayerMLP
from frozen_bench.nn.frozen import Frozen
from frozen_bench.train.loop import fit, param_groups

torch.set_num_threads(1)


def _bundle(n=256, d=8, k=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    y = (x[:, :k].argmax(1)).long()
    return DataBundle("synthetic_test", x, y, x[:64], y[:64], x[:64], y[:64], num_classes=k, synthetic=True)


CFG = {"seed": 0, "trainer": {"epochs": 3, "batch_size": 32, "latency_reps": 1},
       "optim": {"lr": 0.01, "weight_decay": 0.1, "grad_clip": 1.0}}


def test_middle_layer_frozen_zero_grad_and_bit_identical():
    torch.manual_seed(0)
    model = FrozenLayerMLP(8, 3, width=16, layers=3, frozen=[1])
    before = copy.deepcopy(model.linears[1].state_dict())
    others_before = [copy.deepcopy(model.linears[i].state_dict()) for i in (0, 2)]
    fit(model, _bundle(), CFG, torch.device("cpu"), log=lambda *_: None)
    rec = model.record_metrics()
    # frozen layer: exactly zero gradient at every step, and not a single bit changed
    assert rec["grad_norm_layer1_mean"] == 0.0 and rec["grad_norm_layer1_last"] == 0.0
    assert rec["weight_change_layer1"] == 0.0
    for k, v in model.linears[1].state_dict().items():
        assert torch.equal(v, before[k]), k
    # the others learned
    for i, sd in zip((0, 2), others_before):
        assert rec[f"grad_norm_layer{i}_mean"] > 0
        assert not torch.equal(model.linears[i].weight, sd["weight"])


def test_frozen_out_of_optimizer_and_counts():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(nn.Linear(4, 4), Frozen(lin), nn.Linear(4, 2))
    ids = {id(p) for g in param_groups(model, {"lr": 1e-3}) for p in g["params"]}
    assert not ({id(p) for p in lin.parameters()} & ids)
    assert M.trainable_params(model) == 20 + 10
    assert M.frozen_bytes(model) == 20 * 4


def test_stop_gradient_even_if_requires_grad_flipped_back():
    # the classic mistake: freezing by requires_grad alone, then a later .requires_grad_(True)
    lin = nn.Linear(3, 3)
    f = Frozen(lin)
    f.requires_grad_(True)
    x = torch.randn(5, 3, requires_grad=True)
    f(x).sum().backward()
    assert lin.weight.grad is None and lin.bias.grad is None
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradient still flows through


def test_frozen_keeps_batchnorm_stats():
    bn = nn.BatchNorm1d(3)
    f = Frozen(bn)
    f.train()
    f(torch.randn(16, 3) * 5 + 2)
    assert torch.equal(bn.running_mean, torch.zeros(3)) and not bn.training
