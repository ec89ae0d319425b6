"""The ResNet families: what trains and what stays fixed, the structured conv is the map it claims,
the budget goes into per-channel parameters, and compute is counted in the structure that runs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.data.bundle import DataBundle
from frozen_bench.models import build_model
from frozen_bench.models.resnet import RandomConv, ResNet, Shortcut, StructuredConv
from frozen_bench.train import compute as C
from frozen_bench.train import measure as M

CIFAR = ((3, 32, 32), 10)


def cfg(name: str, **model) -> dict:
    return {"seed": 0, "model": {"name": name, **model}, "transform": {"name": "wht", "seed": 0},
            "activation": {"name": "bislope"}, "adapter": {"name": "none"}}


def data(shape=CIFAR[0], classes=10) -> DataBundle:
    x, y = torch.randn(4, *shape), torch.arange(4) % classes
    return DataBundle("t", x, y, x, y, x, y, num_classes=classes)


def test_bn_only_resnet110_trains_only_batchnorm_and_head():
    m = build_model(cfg("bn_only_resnet", depth=110, width=16), data())
    bn = sum(p.numel() for mod in m.modules() if isinstance(mod, nn.BatchNorm2d) for p in mod.parameters())
    assert bn == 2 * (16 + 2 * 18 * (16 + 32 + 64))  # 8,096: the paper's "about 8.3k" BatchNorm parameters
    assert M.trainable_params(m) == bn + 64 * 10 + 10  # and the linear head, nothing else
    assert not any(isinstance(mod, nn.Conv2d) for mod in m.modules())  # the convs are fixed buffers
    assert m.record_metrics()["trainable_per_channel_share"] == pytest.approx(bn / (bn + 650))


def test_random_convs_follow_the_run_seed_and_are_never_saved():
    a = build_model(cfg("bn_only_resnet", depth=8), data())
    b = build_model({**cfg("bn_only_resnet", depth=8), "seed": 1}, data())
    assert not torch.equal(a.stem.kernel, b.stem.kernel)
    assert "stem.kernel" not in a.state_dict()  # regenerated from the seed: stored size is the seed
    assert a.stem.kernel.std().item() == pytest.approx((2 / 27) ** 0.5, rel=0.15)  # He init, fan_in 3·9


@pytest.mark.parametrize("cin,cout,stride", [(3, 16, 1), (16, 16, 1), (16, 32, 2), (32, 64, 2), (64, 64, 1)])
def test_structured_conv_is_its_dense_kernel(cin, cout, stride):
    conv = StructuredConv(cin, cout, stride, seed=0, filters="dct", n_filters=None, transform="wht")
    x = torch.randn(2, cin, 8, 8, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    ref = F.conv2d(x, conv.conv.kernel.double(), stride=stride, padding=1)  # a stride-2 conv with padding 1
    assert torch.allclose(y, ref, atol=1e-6)  # the kernel is held in float32
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    (rx,) = torch.autograd.grad(ref, x, g)
    assert torch.allclose(gx, rx, atol=1e-6)


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 4, 6, 6)
    y = Shortcut(4, 8, 2)(x)
    assert y.shape == (2, 8, 3, 3) and torch.equal(y[:, :4], x[:, :, ::2, ::2]) and y[:, 4:].abs().sum() == 0


@pytest.mark.parametrize("name,budget", [("frozen_resnet", 8000), ("bn_only_resnet", 8000), ("trained_resnet", 8000),
                                         ("frozen_resnet", 20000), ("trained_resnet", 20000)])
def test_budget_lands_in_the_window_and_frozen_budgets_go_to_channels(name, budget):
    m = build_model(cfg(name, budget=budget), data())
    n = M.trainable_params(m)
    assert 0.9 * budget <= n <= budget
    shares = m.record_metrics()
    assert shares["trainable_head_share"] + shares["trainable_conv_share"] + shares["trainable_per_channel_share"] \
        == pytest.approx(1)
    if name == "trained_resnet":
        assert shares["trainable_conv_share"] > 0.8
    else:  # the frozen nets grow deeper, not their head
        assert shares["trainable_per_channel_share"] > 0.85 and shares["trainable_conv_share"] == 0
    assert m.built.startswith("depth=")


def test_macs_count_every_conv_and_the_head():
    m = ResNet(*CIFAR, depth=8, width=4, conv="random")
    # stem 3->4 at 32², block 4->4 (2 convs) at 32², 4->8 at 16², 8->16 at 8², head 16->10
    want = (3 * 4 * 9 * 1024 + 2 * 4 * 4 * 9 * 1024 + (4 * 8 + 8 * 8) * 9 * 256 + (8 * 16 + 16 * 16) * 9 * 64
            + 16 * 10)
    assert C.macs_per_example(m, CIFAR[0]) == want
    trained = ResNet(*CIFAR, depth=8, width=4, conv="trained")
    assert C.macs_per_example(trained, CIFAR[0]) == want  # the same map, the same count
    assert C.fixed_params(m) == sum(c.kernel.numel() for c in m.modules() if isinstance(c, RandomConv))
    assert C.fixed_params(trained) == 0


def test_structured_convs_cost_fewer_multiply_adds_where_wide():
    dense = C.macs_per_example(ResNet(*CIFAR, depth=8, width=64, conv="random"), CIFAR[0])
    structured = C.macs_per_example(ResNet(*CIFAR, depth=8, width=64, conv="structured"), CIFAR[0])
    assert structured < 0.5 * dense


def test_frozen_resnet_rejects_trained_convs_and_bad_depths():
    with pytest.raises(ValueError, match="model=trained_resnet"):
        build_model(cfg("frozen_resnet", conv="trained"), data())
    with pytest.raises(ValueError, match="6n\\+2"):
        build_model(cfg("frozen_resnet", depth=21), data())


def test_one_training_step_moves_only_per_channel_parts():
    m = build_model(cfg("frozen_resnet", depth=8, width=8), data())
    d = data()
    F.cross_entropy(m(d.x_train), d.y_train).backward()
    names = [n for n, p in m.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert names and all(n.startswith("head") or ".norm" in n or ".act" in n or n.startswith("stem_") for n in names)


def test_frozen_audio_cnn_is_audio_cnn_with_fixed_convs():
    from frozen_bench.models.audio import AudioCNN
    from frozen_bench.models.frozen_audio_cnn import FrozenAudioCNN

    frozen, trained = FrozenAudioCNN((40, 51), 12), AudioCNN((40, 51), 12)
    assert frozen.fc.in_features == trained.fc.in_features  # the same pooling, time average and head
    bn = sum(p.numel() for m in frozen.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert M.trainable_params(frozen) == bn + frozen.fc.weight.numel() + 12
    budgeted = build_model({"seed": 0, "model": {"name": "frozen_audio_cnn", "budget": 20000},
                            "transform": {"name": "wht", "seed": 0}, "activation": {"name": "relu"}},
                           data((40, 51), 12))
    assert 18000 <= M.trainable_params(budgeted) <= 20000


def test_macs_see_the_convs_that_evaluation_runs_as_one_kernel_call():
    from frozen_bench.models.frozen_cnn import FrozenCNN

    m = FrozenCNN((3, 32, 32), 10, widths=[8, 12], fused=True).eval()  # at evaluation BatchNorm folds into the conv
    # 3->8 at 32², 8->12 at 16² (both dense fixed kernels at these widths), flattened head 12·8·8 -> 10
    assert C.macs_per_example(m, (3, 32, 32)) == 9 * 3 * 8 * 1024 + 9 * 8 * 12 * 256 + 12 * 64 * 10
    assert not m.training  # counted on a copy
    # unfused, the same map as a depthwise bank (9 filters, 9 taps each) and a WHT over its C·9 channels
    unfused = FrozenCNN((3, 32, 32), 10, widths=[8, 12], fused=False)
    bank = 9 * 9 * (3 * 1024 + 8 * 256)
    wht = 32 * 5 * 1024 + 128 * 7 * 256  # 27 -> 32 and 72 -> 128 wide, n·log2 n each row
    assert C.macs_per_example(unfused, (3, 32, 32)) == bank + wht + 12 * 64 * 10


@pytest.mark.parametrize("name", ["frozen_resnet", "trained_resnet"])
def test_off_cpu_path_is_the_kernel_path(name):
    """On a GPU (or any tensor the CPU kernels cannot read) every fused kernel steps aside for its
    PyTorch form: ``native.torch_only`` forces that path here, and the loss and every gradient
    must be the kernel path's, in training and at evaluation."""
    from frozen_bench.nn import native

    if native.lib() is None:
        pytest.skip("the CPU kernels are not built here: both paths are the PyTorch one")
    torch.manual_seed(0)
    m = build_model(cfg(name, depth=8, width=8), data())
    x, y = torch.randn(6, 3, 32, 32), torch.arange(6) % 10

    def step():
        m.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}

    kernel_loss, kernel_grads = step()
    with native.torch_only():
        torch_loss, torch_grads = step()
    torch.testing.assert_close(torch_loss, kernel_loss, rtol=1e-5, atol=1e-5)
    assert kernel_grads.keys() == torch_grads.keys() and kernel_grads
    for n in kernel_grads:
        torch.testing.assert_close(torch_grads[n], kernel_grads[n], rtol=1e-4, atol=1e-5, msg=n)
    m.eval()
    with torch.no_grad():
        fast = m(x)
        with native.torch_only():
            torch.testing.assert_close(m(x), fast, rtol=1e-4, atol=1e-5)


def test_global_pool_is_avg_or_max_and_a_bad_one_says_so():
    d = data()
    avg = build_model(cfg("frozen_resnet", depth=8, width=8), d)
    mx = build_model(cfg("frozen_resnet", depth=8, width=8, pool="max"), d)
    mx.load_state_dict(avg.state_dict())
    avg.eval(), mx.eval()
    feats = {}
    for name, m in (("avg", avg), ("max", mx)):
        m.head.register_forward_hook(lambda mod, inp, out, name=name: feats.__setitem__(name, inp[0]))
        m(d.x_test)
    h = avg.blocks(avg.stem_act(avg.stem_norm(avg.stem(d.x_test))))
    assert torch.allclose(feats["avg"], h.mean((2, 3)), atol=1e-6)
    assert torch.allclose(feats["max"], h.amax((2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="model.pool must be avg or max"):
        build_model(cfg("trained_resnet", depth=8, width=4, pool="sum"), d)


def test_the_default_pool_keeps_the_signature_of_records_made_before_it_existed():
    from frozen_bench.models import prune
    from frozen_bench.record.signature import signature

    before = cfg("frozen_resnet", depth=8, width=8)  # a record's config from before model.pool
    assert signature(prune(cfg("frozen_resnet", depth=8, width=8, pool="avg"))) == signature(prune(before))
    assert "pool" not in prune(cfg("trained_resnet", pool="avg"))["model"]
    assert prune(cfg("trained_resnet", pool="max"))["model"]["pool"] == "max"
    assert signature(prune(cfg("trained_resnet", budget=8000, fine_sizing=False))) \
        == signature(prune(cfg("trained_resnet", budget=8000)))  # likewise model.fine_sizing
    assert prune(cfg("trained_resnet", fine_sizing=True))["model"]["fine_sizing"] is True


def test_budget_sizing_never_narrows_below_the_adapters_rank():
    """A frozen ResNet at width 8 with a rank-8 adapter used to be narrowed to width 7 by the
    budget's fallback layouts and fail ("adapter.rank is larger than the width"); no layout goes
    below the rank now, so it lands in the window."""
    c = {**cfg("frozen_resnet", width=8, budget=8000), "adapter": {"name": "conv1x1", "rank": 8},
         "activation": {"name": "prelu"}}  # the failed design-search trial: at width 8 no depth lands
    m = build_model(c, data())
    n = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert 7200 <= n <= 8000 and m.width >= 8


@pytest.mark.parametrize("depth", [8, 14, 20, 32])
def test_fine_sizing_lands_a_trained_resnet_at_its_own_depth_where_whole_widths_jump_the_window(depth):
    """With a 3-knot PAct a trained ResNet has 5,306 trainable at width 4 and 8,070 at width 5
    (depth 8): whole widths miss [7200, 8000] at every depth of the design search, whose trials
    failed or fell back to ResNet-8. Stage widths a few channels off (w, 2w, 4w) land each depth."""
    c = {**cfg("trained_resnet", depth=depth, budget=8000), "activation": {"name": "pwl3"}}
    with pytest.raises(Exception, match="cannot be sized to model.budget=8000"):
        build_model(c, data())
    c["model"]["fine_sizing"] = True
    m = build_model(c, data())
    assert 7200 <= M.trainable_params(m) <= 8000 and m.depth == depth
    a, b, w3 = m.widths
    assert m.width == a <= b <= w3 and m.built == f"depth={depth} width={a} widths=({a},{b},{w3})"
    assert m.head.in_features == w3


def test_stage_widths_may_not_narrow():
    with pytest.raises(ValueError, match="three non-decreasing widths starting at width=4"):
        ResNet((3, 32, 32), 10, depth=8, width=4, conv="trained", widths=(4, 8, 6))
