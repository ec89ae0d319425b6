"""Gumbel-sigmoid masks: the logits learn (the forum post's bug), the frozen weights do not."""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.data.bundle import DataBundle
from frozen_bench.models.masked import MaskedNet
from frozen_bench.nn.masks import MaskedLinear, WeightMask, gumbel_sigmoid_ste
from frozen_bench.train.loop import fit, param_groups

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def test_logits_change_frozen_weights_do_not():
    base = _net()
    w0 = copy.deepcopy(base.state_dict())
    model = MaskedNet(base, logit_init=2.0, tau=1.0, reg_weight=1e-3)
    logits0 = [m.mask.logits.detach().clone() for _, m in model.masked_layers()]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 6, generator=g)
    y = torch.randint(0, 3, (128,), generator=g)
    data = DataBundle("synthetic_test", x, y, x, y, x, y, num_classes=3, synthetic=True)
    cfg = {"seed": 0, "trainer": {"epochs": 2, "batch_size": 32}, "optim": {"lr": 1e-3, "mask_lr": 1e-2, "grad_clip": None}}
    fit(model, data, cfg, torch.device("cpu"), log=lambda *_: None)
    for (_, m), l0 in zip(model.masked_layers(), logits0):
        assert (m.mask.logits.detach() - l0).abs().max() > 1e-3  # moved
    sd = base.state_dict()
    for k in ("0.weight", "0.bias", "2.weight", "2.bias"):
        i, name = k.split(".")
        assert torch.equal(sd[f"{i}.frozen.module.{name}"], w0[k]), k


def test_only_logits_in_optimizer_with_mask_lr():
    model = MaskedNet(_net())
    groups = param_groups(model, {"lr": 1e-3, "mask_lr": 1e-2})
    assert [g["name"] for g in groups] == ["mask"] and groups[0]["lr"] == 1e-2
    n_logits = sum(m.mask.logits.numel() for _, m in model.masked_layers())
    assert sum(p.numel() for p in groups[0]["params"]) == n_logits == 6 * 16 + 16 * 3


def test_ste_forward_is_binary_and_gradient_reaches_logits():
    logits = torch.zeros(1000, requires_grad=True)
    m = gumbel_sigmoid_ste(logits, tau=1.0)
    assert set(m.detach().unique().tolist()) <= {0.0, 1.0}
    (m * torch.arange(1000.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_eval_mask_is_deterministic_threshold():
    mask = WeightMask((4,), init=0.0)
    with torch.no_grad():
        mask.logits.copy_(torch.tensor([-1.0, 0.0, 0.5, -0.1]))
    mask.eval()
    assert mask().tolist() == [0.0, 1.0, 1.0, 0.0]
    assert mask.density() == 0.5


def test_masked_linear_matches_functional_form():
    lin = nn.Linear(5, 4)
    ml = MaskedLinear(lin, init=-3.0)
    ml.eval()  # all logits < 0: the deterministic mask drops every weight, only the bias stays
    x = torch.randn(2, 5)
    assert torch.allclose(ml(x), F.linear(x, torch.zeros(4, 5), lin.bias))
