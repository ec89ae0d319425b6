"""The models take the speed paths and compute what the code they replaced computed (issue 12), up
to float rounding: LoRA on the (B, C, S) view and merged at evaluation, the fused filter bank +
channel mixing (now the default) and its structured form, BatchNorm folded into the fixed kernel at
evaluation, a stage's evaluation tail in one pass, the frozen MLP block in one call; outputs and
gradients on fixed inputs. The kernels themselves: tests/nn/test_fused.py."""

from __future__ import annotations

import pytest
import torch

from frozen_bench.models.blocks import MaxPool2x2
from frozen_bench.models.frozen_cnn import FrozenCNN
from frozen_bench.nn import activations, adapters, fused, native

KERNELS = native.lib() is not None  # the one-pass kernels built here (else every path is torch's)
needs_kernels = pytest.mark.skipif(not KERNELS, reason=f"no compiled kernels: {native.status()}")


def _old_bislope(self, x):  # the expression BiSlope.forward ran before
    shape = (1, -1, *([1] * (x.ndim - 2)))
    a, b, c = (p.view(shape) for p in (self.a, self.b, self.c))
    return a * torch.relu(x) - b * torch.relu(-x) + c


def _old_lora(self, x):  # the channels-last expression LoRA.forward ran before
    h = x.movedim(1, -1) if x.ndim > 2 else x
    d = (h @ self.U) @ self.V
    return x + (d.movedim(-1, 1) if x.ndim > 2 else d)


def _pair(widths, shape, adapter, rank, transform="wht"):
    torch.manual_seed(0)
    old = FrozenCNN(shape, 10, widths=widths, transform=transform, adapter=adapter, rank=rank, fused=False)
    new = FrozenCNN(shape, 10, widths=widths, transform=transform, adapter=adapter, rank=rank, fused=True)
    with torch.no_grad():  # trained-looking parameters and statistics, not the init
        for p in old.parameters():
            p.add_(0.3 * torch.randn(p.shape))
        for m in old.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    new.load_state_dict(old.state_dict())
    return old, new


# the three presets of issue 12 (widths, input shape, adapter): fmnist_frontier, mnist_wht, cifar_wht
PRESETS = {"fmnist_frontier": ([16, 40], (1, 28, 28), "none", 0), "mnist_wht": ([32, 64], (1, 28, 28), "none", 0),
           "cifar_wht": ([32, 64, 128], (3, 32, 32), "lora", 8)}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_frozen_cnn_fast_paths_compute_the_old_map(preset, monkeypatch):
    widths, shape, adapter, rank = PRESETS[preset]
    old, new = _pair(widths, shape, adapter, rank)
    x = torch.randn(6, *shape, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 10

    def run(model, old_code):
        with monkeypatch.context() as mp:
            if old_code:
                mp.setattr(activations.BiSlope, "forward", _old_bislope)
                mp.setattr(adapters.LoRA, "forward", _old_lora)
                mp.setattr(MaxPool2x2, "forward", torch.nn.MaxPool2d.forward)
                mp.setattr(fused, "stage_tail_applies", lambda *a: False)  # the modules one by one
            else:
                real = fused.stage_tail
                mp.setattr(fused, "stage_tail", lambda *a: tails.append(1) or real(*a))
            model.train()
            model.zero_grad()
            out = model(x)
            torch.nn.functional.cross_entropy(out, y).backward()
            grads = {k: p.grad.clone() for k, p in model.named_parameters()}
            model.eval()
            with torch.no_grad():
                ev = model(x)
            with torch.inference_mode():
                ev1 = model(x[:1])
        return out.detach(), grads, ev, ev1

    tails = []
    o_out, o_grads, o_ev, o_ev1 = run(old, old_code=True)
    assert not tails
    n_out, n_grads, n_ev, n_ev1 = run(new, old_code=False)
    assert len(tails) == (2 * len(widths) if KERNELS else 0)  # evaluation: every stage's tail in one pass, batch 6 and 1
    tol = dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(n_out, o_out, **tol)  # training mode: batch statistics
    torch.testing.assert_close(n_ev, o_ev, **tol)  # evaluation: BatchNorm folded, PAct + LoRA + pool one pass
    torch.testing.assert_close(n_ev1, o_ev1, **tol)
    assert o_grads.keys() == n_grads.keys()
    for k in o_grads:
        # parameter gradients sum over B·H·W pixels in float32: rounding reaches a few 1e-5
        torch.testing.assert_close(n_grads[k], o_grads[k], rtol=1e-3, atol=5e-5, msg=k)
    # the BatchNorm running statistics moved alike in the two training steps
    news = dict(new.named_modules())
    for name, a in old.named_modules():
        if isinstance(a, torch.nn.BatchNorm2d):
            torch.testing.assert_close(news[name].running_mean, a.running_mean, **tol)
            torch.testing.assert_close(news[name].running_var, a.running_var, **tol)


@pytest.mark.parametrize("channels,rank", [(12, 2), (128, 2)])  # merged (C <= 32 r) and low-rank forms
def test_lora_on_feature_maps_matches_the_old_expression(channels, rank):
    torch.manual_seed(0)
    lora = adapters.LoRA(channels, rank)
    with torch.no_grad():
        lora.V.normal_()
    x = torch.randn(3, channels, 5, 4)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya = lora(xa)
    grads_new = torch.autograd.grad(ya.pow(2).sum(), [xa, lora.U, lora.V])
    yb = _old_lora(lora, xb)
    grads_old = torch.autograd.grad(yb.pow(2).sum(), [xb, lora.U, lora.V])
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    for p, q in zip(grads_new, grads_old):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(lora(x), yb.detach(), rtol=1e-5, atol=1e-5)


def _old_conv1x1(self, x):  # the channels-last nn.Linear expression Conv1x1.forward ran before
    h = x.movedim(1, -1) if x.ndim > 2 else x
    d = self.up(self.down(h))
    return x + (d.movedim(-1, 1) if x.ndim > 2 else d)


@pytest.mark.parametrize("shape", [(5, 12), (3, 12, 7), (4, 12, 5, 6)])
def test_conv1x1_adapter_matches_the_old_expression(shape):
    torch.manual_seed(0)
    ad = adapters.Conv1x1(shape[1], 4)
    with torch.no_grad():
        ad.up.weight.normal_()
        ad.up.bias.normal_()
    x = torch.randn(*shape)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    params = list(ad.parameters())
    ya, yb = ad(xa), _old_conv1x1(ad, xb)
    ga = torch.autograd.grad(ya.pow(2).sum(), [xa, *params])
    gb = torch.autograd.grad(yb.pow(2).sum(), [xb, *params])
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    for p, q in zip(ga, gb):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # evaluation: the merged M x + b, rebuilt after an in-place update
        torch.testing.assert_close(ad(x), yb.detach(), rtol=1e-5, atol=1e-5)
        ad.down.weight.add_(0.5)
        torch.testing.assert_close(ad(x), _old_conv1x1(ad, x), rtol=1e-5, atol=1e-5)


# dct: BatchNorm folded into the dense fixed kernel; wht: the first stage (1 -> 8) is dense and folds,
# the second (8 -> 32) runs the structured conv with BatchNorm in the tail
@pytest.mark.parametrize("transform", ["dct", "wht"])
def test_folded_kernel_follows_parameter_updates_and_grad_mode(transform):
    old, new = _pair([8, 32], (1, 12, 12), "lora", 2, transform=transform)
    x = torch.randn(4, 1, 12, 12)
    new.eval()
    old.eval()
    with torch.no_grad():
        assert new.stages[0]._folds_norm(x)
        assert new.stages[1]._folds_norm(new.stages[0](x)) == (transform == "dct" or not KERNELS)
        first = new(x)
        for m in (old, new):  # an optimizer-like in-place update: the folds must be rebuilt
            m.stages[0].norm.weight.mul_(1.5)
            m.stages[1].adapter.V.add_(0.1)
        torch.testing.assert_close(new(x), old(x), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(new(x), first)
    out = new(x)  # eval with a graph (no fold): gradients still reach the norms and adapters
    out.sum().backward()
    assert new.stages[0].norm.weight.grad is not None and new.stages[1].adapter.U.grad is not None


@needs_kernels
@pytest.mark.parametrize("family", ["frozen", "trained"])
def test_cnn_training_step_with_the_fused_norm_and_pact_is_the_plain_one(family, monkeypatch):
    import copy

    from frozen_bench.models import blocks
    from frozen_bench.models.trained_cnn import TrainedCNN

    torch.manual_seed(0)
    model = (FrozenCNN((1, 12, 12), 10, widths=[8, 12], fused=True) if family == "frozen"
             else TrainedCNN((1, 12, 12), 10, widths=[8, 12]))
    plain = copy.deepcopy(model)
    x, y = torch.randn(16, 1, 12, 12), torch.randint(0, 10, (16,))

    def step(m):
        m.train()
        m.zero_grad()
        out = m(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        return out.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}, {k: b.clone() for k, b in m.named_buffers()}

    calls = []
    real = fused.batchnorm_bislope
    monkeypatch.setattr(fused, "batchnorm_bislope", lambda *a: calls.append(1) or real(*a))
    together = step(model)
    assert len(calls) == 2  # both stages took the fused op
    monkeypatch.setattr(blocks, "norm_act", lambda norm, act, h: act(norm(h)))  # the two modules, as before the fusion
    unfused = step(plain)
    torch.testing.assert_close(together[0], unfused[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(together[1:], unfused[1:]):
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-5, msg=k)


@pytest.mark.parametrize("norm", ["batch", "light"])
def test_trained_cnn_evaluation_tail_is_the_modules_one_by_one(norm, monkeypatch):
    from frozen_bench.models.trained_cnn import TrainedCNN

    torch.manual_seed(0)
    model = TrainedCNN((3, 16, 16), 10, widths=[8, 12], norm=norm)
    x = torch.randn(32, 3, 16, 16)
    model.train()
    model(x)  # running statistics away from their initial values
    model.eval()
    tails = []
    real = fused.stage_tail
    monkeypatch.setattr(fused, "stage_tail", lambda *a: tails.append(1) or real(*a))
    with torch.no_grad():
        one_pass = model(x)
    assert len(tails) == (2 if norm == "batch" and KERNELS else 0)  # an evaluation BatchNorm folds into the pass
    monkeypatch.setattr(fused, "stage_tail_applies", lambda *a: False)
    with torch.no_grad():
        torch.testing.assert_close(one_pass, model(x), rtol=1e-5, atol=1e-5)


def _stage_conv(in_channels, width, n_filters=None, transform="wht"):
    from frozen_bench.models.frozen_cnn import ChannelMix, FusedFilterMix
    from frozen_bench.nn.filters import make_filter_bank

    bank = make_filter_bank("dct", 3, n_filters, seed=0)
    return FusedFilterMix(bank, ChannelMix(transform, bank.out_channels(in_channels), width), in_channels)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
# (C, width, K, B, H, W): the presets' stages (fold to n2 < N; CK < n2 zero-padded; width 40 of n2 = 64),
# fewer filters than 9, odd and non-square maps, batch 1 (tasks split by rows)
@pytest.mark.parametrize("C,width,K,B,H,W", [(1, 16, None, 3, 28, 28), (16, 40, None, 2, 14, 14), (3, 32, None, 2, 32, 32),
                                             (32, 64, None, 2, 16, 16), (64, 128, None, 2, 8, 8), (5, 24, 4, 3, 7, 11),
                                             (8, 8, 2, 1, 9, 5), (32, 64, None, 1, 16, 16), (2, 4, 3, 2, 1, 1)])
def test_structured_wht_conv_is_the_dense_kernel_values_and_input_gradient(C, width, K, B, H, W, dtype):
    conv = _stage_conv(C, width, K)
    g = torch.Generator().manual_seed(C * width)
    x = torch.randn(B, C, H, W, generator=g, dtype=dtype)
    assert conv.structure_applies(x)  # the kernel itself, also where the model keeps the dense conv
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = conv.structured_map(a), torch.nn.functional.conv2d(b, conv.kernel.to(dtype), padding="same")
    assert type(ya.grad_fn).__name__ == "_BankWHTFnBackward"
    w = torch.randn(yb.shape, generator=g, dtype=dtype)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    # the dense kernel is built in float32 (its rounding, ~1e-7, bounds the float64 agreement)
    tol = dict(rtol=1e-5, atol=2e-5) if dtype == torch.float32 else dict(rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ya, yb, **tol)
    torch.testing.assert_close(a.grad, b.grad, **tol)
    with torch.no_grad():  # no graph: the forward kernel alone
        torch.testing.assert_close(conv.structured_map(x), yb.detach(), **tol)


@needs_kernels
def test_structured_wht_conv_passes_gradcheck_and_only_serves_wht():
    conv = _stage_conv(3, 12, 5)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv.structured_map, (x,))
    assert conv.structured["n2"] == 16
    assert _stage_conv(3, 12, 5, transform="dct").structured is None  # no such structure: the dense kernel
    assert not conv.structure_applies(x.detach().transpose(2, 3))  # not contiguous: the dense conv runs


@needs_kernels
def test_the_model_runs_the_structured_conv_where_it_makes_under_half_the_dense_flops(monkeypatch):
    # one-channel first stages (9 filters into 16 or 32 channels) save too little: dense, BatchNorm
    # folded at evaluation; every other preset stage (and CIFAR's 3-channel first one) structured
    assert [_stage_conv(c, w).prefers_structure for c, w in [(1, 16), (1, 32), (3, 32), (16, 40), (32, 64), (64, 128)]] \
        == [False, False, True, True, True, True]
    model = FrozenCNN((1, 28, 28), 10, widths=[16, 40], fused=True).eval()
    calls = []
    real = fused.bank_wht
    monkeypatch.setattr(fused, "bank_wht", lambda *a: calls.append(a[0].shape[1]) or real(*a))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert model.stages[0]._folds_norm(x) and not model.stages[1]._folds_norm(model.stages[0](x))
        model(x)
    assert calls == [16]  # the second stage only


def test_structured_wht_conv_falls_back_to_the_dense_kernel_off_its_path():
    conv = _stage_conv(4, 8)
    x = torch.randn(2, 4, 6, 6)
    with native.torch_only():
        assert not conv.uses_structure(x)
        torch.testing.assert_close(conv(x), torch.nn.functional.conv2d(x, conv.kernel, padding="same"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("width,batch", [(1024, 1), (1024, 37), (16, 5)])
def test_frozen_mlp_block_in_one_call_is_the_modules_one_by_one(width, batch, dtype, monkeypatch):
    from frozen_bench.models.frozen_mlp import FrozenMLP

    torch.manual_seed(0)
    model = FrozenMLP(width, 10, width=width, depth=2).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():  # trained-looking values: slopes of both signs, nonzero shifts
            p.add_(0.5 * torch.randn(p.shape, dtype=dtype))
    x = torch.randn(batch, width, dtype=dtype)
    calls = []
    real = fused.wht_block
    monkeypatch.setattr(fused, "wht_block", lambda *a: calls.append(1) or real(*a))
    with torch.inference_mode():
        one_call = model(x)
    assert len(calls) == (2 if KERNELS else 0)  # each block one call where the kernels are built
    with torch.no_grad(), native.torch_only():
        plain = model(x)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(one_call, plain, **tol)
    out = model(x)  # with a graph: the modules, so gradients reach the norm and PAct
    out.sum().backward()
    assert len(calls) == (2 if KERNELS else 0) and model.blocks[0].norm.scale.grad is not None


def test_frozen_mlp_block_with_an_adapter_or_gate_runs_its_modules(monkeypatch):
    from frozen_bench.models.frozen_mlp import FrozenMLP

    monkeypatch.setattr(fused, "wht_block", lambda *a: pytest.fail("the one-call block ran"))
    for kw in (dict(adapter="lora", rank=2), dict(gate=True), dict(transform="dct")):
        model = FrozenMLP(64, 10, width=64, **kw).eval()
        with torch.no_grad():
            model(torch.randn(3, 64))
