"""The speed paths compute what the plain expressions compute (issue 12), up to float rounding:
the one-pass bi-slope and 2x2 max-pool kernels, LoRA on the (B, C, S) view and merged at evaluation, the fused
filter bank + channel mixing (now the default), BatchNorm folded into the fixed kernel at evaluation,
and a stage's evaluation tail (norm, PAct, LoRA, pool) in one pass. Each is checked against the code
it replaced on fixed inputs, outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from frozen_bench.models.blocks import MaxPool2x2
from frozen_bench.models.frozen_cnn import FrozenCNN
from frozen_bench.nn import _native, activations, adapters, fast

KERNELS = _native.lib() is not None  # the one-pass kernels built here (else every path is torch's)
needs_kernels = pytest.mark.skipif(not KERNELS, reason=f"no compiled kernels: {_native.status()}")


def _old_bislope(self, x):  # the expression BiSlope.forward ran before
    shape = (1, -1, *([1] * (x.ndim - 2)))
    a, b, c = (p.view(shape) for p in (self.a, self.b, self.c))
    return a * torch.relu(x) - b * torch.relu(-x) + c


def _old_lora(self, x):  # the channels-last expression LoRA.forward ran before
    h = x.movedim(1, -1) if x.ndim > 2 else x
    d = (h @ self.U) @ self.V
    return x + (d.movedim(-1, 1) if x.ndim > 2 else d)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(7, 5), (3, 8, 10), (4, 6, 9, 9), (64, 16, 14, 14)])
def test_bislope_kernel_matches_the_expression_values_and_gradients(shape, dtype):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.randn(*shape, generator=g, dtype=dtype)
    x.view(-1)[:7] = 0  # relu'(0) = 0 on both paths
    params = [torch.randn(shape[1], generator=g, dtype=dtype) for _ in range(3)]
    new = [t.clone().requires_grad_() for t in (x, *params)]
    old = [t.clone().requires_grad_() for t in (x, *params)]
    y_new, y_old = fast.bislope(*new), fast.bislope_torch(*old)
    w = torch.randn(y_old.shape, generator=g, dtype=dtype)
    (y_new * w).sum().backward()
    (y_old * w).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)  # sums of 10k terms
    torch.testing.assert_close(y_new, y_old, **tol)
    for p, q in zip(new, old):
        torch.testing.assert_close(p.grad, q.grad, **tol)
    with torch.no_grad():  # no graph: the kernel alone
        torch.testing.assert_close(fast.bislope(x, *params), y_old.detach(), **tol)


@needs_kernels
def test_bislope_module_runs_the_kernel_on_its_parameters():
    act = activations.make_activation("bislope", 4)
    x = torch.randn(3, 4, 5, 5, requires_grad=True)
    assert type(act(x).grad_fn).__name__ == "_BiSlopeFnBackward"  # nn.Parameter arguments take the kernel


def test_bislope_kernel_passes_gradcheck_and_falls_back_off_its_path():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    ps = [torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(fast.bislope, (x, *ps))
    xt = torch.randn(2, 5, 6, 4, generator=g).transpose(1, 3)  # not contiguous: the expression runs
    ps32 = [p.detach().float() for p in ps]
    torch.testing.assert_close(fast.bislope(xt, *ps32), fast.bislope_torch(xt, *ps32))


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (2, 3, 7, 5), (16, 8, 28, 28), (1, 1, 2, 2), (2, 3, 4, 70), (3, 2, 9, 33), (1, 1, 3, 65)])
def test_max_pool_kernel_matches_torch_bit_for_bit(shape, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.round(torch.randn(*shape, generator=g, dtype=dtype) * 2) / 2  # ties: the first maximum wins
    x.view(-1)[torch.randint(0, x.numel(), (x.numel() // 5 + 1,), generator=g)] = float("nan")  # the last NaN wins
    x.view(-1)[torch.randint(0, x.numel(), (x.numel() // 5 + 1,), generator=g)] = -float("inf")
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = fast.max_pool2x2(a), torch.nn.functional.max_pool2d(b, 2)
    assert type(ya.grad_fn).__name__ == "_MaxPool2FnBackward"
    w = torch.randn(yb.shape, generator=g, dtype=dtype)
    (ya * w).nan_to_num().sum().backward()
    (yb * w).nan_to_num().sum().backward()
    assert torch.equal(ya.detach().nan_to_num(), yb.detach().nan_to_num()) and torch.equal(a.grad, b.grad)


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
                mp.setattr(fast, "stage_tail_applies", lambda *a: False)  # the modules one by one
            else:
                real = fast.stage_tail
                mp.setattr(fast, "stage_tail", lambda *a: tails.append(1) or real(*a))
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
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(64, 16, 14, 14), (7, 5, 3, 4), (3, 2, 1, 2)])
@pytest.mark.parametrize("input_grad", [True, False])  # a frozen CNN's first stage needs none
def test_fused_batchnorm_bislope_matches_the_two_modules(shape, dtype, input_grad):
    import copy

    g = torch.Generator().manual_seed(shape[0])
    c = shape[1]
    x = torch.randn(*shape, generator=g, dtype=dtype) * 1.3 + 5.0  # |mean| >> std: the shifted sums
    bn = torch.nn.BatchNorm2d(c).to(dtype)
    act = activations.BiSlope(c).to(dtype)
    with torch.no_grad():
        for p in (bn.weight, bn.bias, act.a, act.b, act.c):
            p.copy_(torch.randn(c, generator=g, dtype=dtype))
    bn2, act2 = copy.deepcopy(bn), copy.deepcopy(act)
    xa, xb = x.clone().requires_grad_(input_grad), x.clone().requires_grad_(input_grad)
    assert fast.batchnorm_bislope_applies(bn, xa, act.a, act.b, act.c)
    ya = fast.batchnorm_bislope(xa, bn, act.a, act.b, act.c)
    yb = fast.bislope_torch(bn2(xb), act2.a, act2.b, act2.c)
    w = torch.randn(shape, generator=g, dtype=dtype)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ya, yb, **tol)
    for p, q in zip([*bn.parameters(), *act.parameters()], [*bn2.parameters(), *act2.parameters()]):
        torch.testing.assert_close(p.grad, q.grad, **tol)
    if input_grad:
        torch.testing.assert_close(xa.grad, xb.grad, **tol)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(bn, name), getattr(bn2, name), **tol)


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
    real = fast.batchnorm_bislope
    monkeypatch.setattr(fast, "batchnorm_bislope", lambda *a: calls.append(1) or real(*a))
    fused = step(model)
    assert len(calls) == 2  # both stages took the fused op
    monkeypatch.setattr(blocks, "norm_act", lambda norm, act, h: act(norm(h)))  # the two modules, as before the fusion
    unfused = step(plain)
    torch.testing.assert_close(fused[0], unfused[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(fused[1:], unfused[1:]):
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-5, msg=k)


def _tail_reference(z, scale, shift, abc, U, V):
    h = z if scale is None else z * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
    h = h if abc is None else fast.bislope_torch(h, *abc)
    h = h if U is None else h + torch.einsum("bchw,cr,ro->bohw", h, U, V)
    return torch.nn.functional.max_pool2d(h, 2)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,rank", [((2, 32, 32, 32), 8), ((3, 64, 16, 16), 8), ((2, 128, 8, 8), 8),
                                        ((1, 5, 7, 9), 3), ((2, 40, 14, 14), 0), ((1, 11, 28, 28), 13), ((2, 16, 3, 2), 16)])
@pytest.mark.parametrize("steps", ["affine+pact", "pact", "none"])
def test_stage_tail_kernel_is_the_separate_ops(shape, rank, steps, dtype):
    g = torch.Generator().manual_seed(rank + shape[1])
    B, C, H, W = shape
    z = torch.randn(*shape, generator=g, dtype=dtype)
    z.view(-1)[::97] = 0  # ties in a window: the first maximum wins on both paths
    scale, shift = torch.rand(C, generator=g, dtype=dtype) + 0.5, torch.randn(C, generator=g, dtype=dtype)
    abc = (torch.rand(C, generator=g, dtype=dtype), 0.3 * torch.rand(C, generator=g, dtype=dtype),
           0.1 * torch.randn(C, generator=g, dtype=dtype))
    U = torch.randn(C, rank, generator=g, dtype=dtype) / C**0.5 if rank else None
    V = torch.randn(rank, C, generator=g, dtype=dtype) if rank else None
    if steps != "affine+pact":
        scale = shift = None
    if steps == "none":
        abc = None
    want = _tail_reference(z, scale, shift, abc, U, V)
    args = (scale, shift, *(abc or (None,) * 3), U, None if V is None else V.T.contiguous())
    assert fast.stage_tail_applies(z, *args)
    got = fast.stage_tail(z, *args)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, want, **tol)


@needs_kernels
def test_stage_tail_kernel_pools_nan_as_torch_does():
    z = torch.randn(2, 8, 6, 6, generator=torch.Generator().manual_seed(3))
    z[0, 1, 0, 1] = z[1, 7, 5, 5] = float("nan")
    got = fast.stage_tail(z)
    torch.testing.assert_close(got, torch.nn.functional.max_pool2d(z, 2), rtol=0, atol=0, equal_nan=True)
    assert got[0, 1, 0, 0].isnan() and got[1, 7, 2, 2].isnan()


@needs_kernels
def test_stage_tail_needs_no_graph_and_plain_inputs():
    z = torch.randn(2, 4, 6, 6, requires_grad=True)
    assert not fast.stage_tail_applies(z)  # a graph is wanted: the modules run
    with torch.no_grad():
        assert fast.stage_tail_applies(z)
        assert not fast.stage_tail_applies(z.transpose(2, 3))  # not contiguous
        assert not fast.stage_tail_applies(z[:, :, :1])  # under 2x2
        assert not fast.stage_tail_applies(z, torch.ones(4, dtype=torch.float64))  # a parameter of another dtype


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
    real = fast.stage_tail
    monkeypatch.setattr(fast, "stage_tail", lambda *a: tails.append(1) or real(*a))
    with torch.no_grad():
        fused = model(x)
    assert len(tails) == (2 if norm == "batch" and KERNELS else 0)  # an evaluation BatchNorm folds into the pass
    monkeypatch.setattr(fast, "stage_tail_applies", lambda *a: False)
    with torch.no_grad():
        torch.testing.assert_close(fused, model(x), rtol=1e-5, atol=1e-5)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,rank", [((4, 32, 32, 32), 8), ((3, 64, 16, 16), 8), ((2, 128, 8, 8), 8),
                                        ((2, 12, 4, 4), 2), ((3, 20, 8, 8), 13), ((2, 7, 16), 3)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_lora_training_kernel_matches_the_expression_values_and_gradients(shape, rank, dtype, input_grad):
    g = torch.Generator().manual_seed(shape[1] + rank)
    C = shape[1]
    x = torch.randn(*shape, generator=g, dtype=dtype)
    U = torch.randn(C, rank, generator=g, dtype=dtype) / C**0.5
    V = torch.randn(rank, C, generator=g, dtype=dtype)
    assert fast.lora_map_applies(x, U, V)
    new = [x.clone().requires_grad_(input_grad), U.clone().requires_grad_(), V.clone().requires_grad_()]
    old = [t.clone().requires_grad_(t is not x or input_grad) for t in (x, U, V)]
    y_new = fast.lora_map(*new)
    h = old[0].reshape(shape[0], C, -1)
    y_old = (h + torch.einsum("cr,ro,bcs->bos", old[1], old[2], h)).view(shape)
    w = torch.randn(shape, generator=g, dtype=dtype)
    (y_new * w).sum().backward()
    (y_old * w).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y_new, y_old, **tol)
    for p, q in zip(new, old):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, **tol)


@needs_kernels
def test_lora_training_kernel_passes_gradcheck_and_the_module_takes_it():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    U = torch.randn(6, 3, dtype=torch.float64, generator=g, requires_grad=True)
    V = torch.randn(3, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(fast.lora_map, (x, U, V))
    lora = adapters.LoRA(16, 4)
    assert type(lora(torch.randn(2, 16, 8, 8, requires_grad=True)).grad_fn).__name__ == "_LoRAMapFnBackward"
    odd = torch.randn(2, 16, 5, 5, requires_grad=True)  # 25 pixels: not a whole number of vectors
    assert not fast.lora_map_applies(odd, lora.U, lora.V)
    assert type(lora(odd).grad_fn).__name__ != "_LoRAMapFnBackward"


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
    real = fast.bank_wht
    monkeypatch.setattr(fast, "bank_wht", lambda *a: calls.append(a[0].shape[1]) or real(*a))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert model.stages[0]._folds_norm(x) and not model.stages[1]._folds_norm(model.stages[0](x))
        model(x)
    assert calls == [16]  # the second stage only


def test_structured_wht_conv_falls_back_to_the_dense_kernel_off_its_path():
    conv = _stage_conv(4, 8)
    x = torch.randn(2, 4, 6, 6)
    with fast.torch_only():
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
    real = fast.wht_block
    monkeypatch.setattr(fast, "wht_block", lambda *a: calls.append(1) or real(*a))
    with torch.inference_mode():
        fused = model(x)
    assert len(calls) == (2 if KERNELS else 0)  # each block one call where the kernels are built
    with torch.no_grad(), fast.torch_only():
        plain = model(x)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused, plain, **tol)
    out = model(x)  # with a graph: the modules, so gradients reach the norm and PAct
    out.sum().backward()
    assert len(calls) == (2 if KERNELS else 0) and model.blocks[0].norm.scale.grad is not None


def test_frozen_mlp_block_with_an_adapter_or_gate_runs_its_modules(monkeypatch):
    from frozen_bench.models.frozen_mlp import FrozenMLP

    monkeypatch.setattr(fast, "wht_block", lambda *a: pytest.fail("the one-call block ran"))
    for kw in (dict(adapter="lora", rank=2), dict(gate=True), dict(transform="dct")):
        model = FrozenMLP(64, 10, width=64, **kw).eval()
        with torch.no_grad():
            model(torch.randn(3, 64))
