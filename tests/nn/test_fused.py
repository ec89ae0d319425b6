"""The fused layer kernels (frozen_bench.nn.fused) compute what the plain expressions compute, up to
float rounding: the one-pass bi-slope PAct, the 2x2 max pool, BatchNorm + bi-slope in training, a
CNN stage's evaluation tail in one pass, and LoRA on feature maps in training; values and gradients
on fixed inputs, gradcheck, and the fallbacks off their path. (The models that take them:
tests/models/test_models_speed_same_map.py.)"""

from __future__ import annotations

import pytest
import torch

from frozen_bench.nn import activations, adapters, fused, native

KERNELS = native.lib() is not None  # the one-pass kernels built here (else every path is torch's)
needs_kernels = pytest.mark.skipif(not KERNELS, reason=f"no compiled kernels: {native.status()}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(7, 5), (3, 8, 10), (4, 6, 9, 9), (64, 16, 14, 14)])
def test_bislope_kernel_matches_the_expression_values_and_gradients(shape, dtype):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.randn(*shape, generator=g, dtype=dtype)
    x.view(-1)[:7] = 0  # relu'(0) = 0 on both paths
    params = [torch.randn(shape[1], generator=g, dtype=dtype) for _ in range(3)]
    new = [t.clone().requires_grad_() for t in (x, *params)]
    old = [t.clone().requires_grad_() for t in (x, *params)]
    y_new, y_old = fused.bislope(*new), fused.bislope_torch(*old)
    w = torch.randn(y_old.shape, generator=g, dtype=dtype)
    (y_new * w).sum().backward()
    (y_old * w).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)  # sums of 10k terms
    torch.testing.assert_close(y_new, y_old, **tol)
    for p, q in zip(new, old):
        torch.testing.assert_close(p.grad, q.grad, **tol)
    with torch.no_grad():  # no graph: the kernel alone
        torch.testing.assert_close(fused.bislope(x, *params), y_old.detach(), **tol)


@needs_kernels
def test_bislope_module_runs_the_kernel_on_its_parameters():
    act = activations.make_activation("bislope", 4)
    x = torch.randn(3, 4, 5, 5, requires_grad=True)
    assert type(act(x).grad_fn).__name__ == "_BiSlopeFnBackward"  # nn.Parameter arguments take the kernel


def test_bislope_kernel_passes_gradcheck_and_falls_back_off_its_path():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    ps = [torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(fused.bislope, (x, *ps))
    xt = torch.randn(2, 5, 6, 4, generator=g).transpose(1, 3)  # not contiguous: the expression runs
    ps32 = [p.detach().float() for p in ps]
    torch.testing.assert_close(fused.bislope(xt, *ps32), fused.bislope_torch(xt, *ps32))


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (2, 3, 7, 5), (16, 8, 28, 28), (1, 1, 2, 2), (2, 3, 4, 70), (3, 2, 9, 33), (1, 1, 3, 65)])
def test_max_pool_kernel_matches_torch_bit_for_bit(shape, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.round(torch.randn(*shape, generator=g, dtype=dtype) * 2) / 2  # ties: the first maximum wins
    x.view(-1)[torch.randint(0, x.numel(), (x.numel() // 5 + 1,), generator=g)] = float("nan")  # the last NaN wins
    x.view(-1)[torch.randint(0, x.numel(), (x.numel() // 5 + 1,), generator=g)] = -float("inf")
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = fused.max_pool2x2(a), torch.nn.functional.max_pool2d(b, 2)
    assert type(ya.grad_fn).__name__ == "_MaxPool2FnBackward"
    w = torch.randn(yb.shape, generator=g, dtype=dtype)
    (ya * w).nan_to_num().sum().backward()
    (yb * w).nan_to_num().sum().backward()
    assert torch.equal(ya.detach().nan_to_num(), yb.detach().nan_to_num()) and torch.equal(a.grad, b.grad)


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
    assert fused.batchnorm_bislope_applies(bn, xa, act.a, act.b, act.c)
    ya = fused.batchnorm_bislope(xa, bn, act.a, act.b, act.c)
    yb = fused.bislope_torch(bn2(xb), act2.a, act2.b, act2.c)
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


def _tail_reference(z, scale, shift, abc, U, V):
    h = z if scale is None else z * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
    h = h if abc is None else fused.bislope_torch(h, *abc)
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
    assert fused.stage_tail_applies(z, *args)
    got = fused.stage_tail(z, *args)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, want, **tol)


@needs_kernels
def test_stage_tail_kernel_pools_nan_as_torch_does():
    z = torch.randn(2, 8, 6, 6, generator=torch.Generator().manual_seed(3))
    z[0, 1, 0, 1] = z[1, 7, 5, 5] = float("nan")
    got = fused.stage_tail(z)
    torch.testing.assert_close(got, torch.nn.functional.max_pool2d(z, 2), rtol=0, atol=0, equal_nan=True)
    assert got[0, 1, 0, 0].isnan() and got[1, 7, 2, 2].isnan()


@needs_kernels
def test_stage_tail_needs_no_graph_and_plain_inputs():
    z = torch.randn(2, 4, 6, 6, requires_grad=True)
    assert not fused.stage_tail_applies(z)  # a graph is wanted: the modules run
    with torch.no_grad():
        assert fused.stage_tail_applies(z)
        assert not fused.stage_tail_applies(z.transpose(2, 3))  # not contiguous
        assert not fused.stage_tail_applies(z[:, :, :1])  # under 2x2
        assert not fused.stage_tail_applies(z, torch.ones(4, dtype=torch.float64))  # a parameter of another dtype


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
    assert fused.lora_map_applies(x, U, V)
    new = [x.clone().requires_grad_(input_grad), U.clone().requires_grad_(), V.clone().requires_grad_()]
    old = [t.clone().requires_grad_(t is not x or input_grad) for t in (x, U, V)]
    y_new = fused.lora_map(*new)
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
    assert torch.autograd.gradcheck(fused.lora_map, (x, U, V))
    lora = adapters.LoRA(16, 4)
    assert type(lora(torch.randn(2, 16, 8, 8, requires_grad=True)).grad_fn).__name__ == "_LoRAMapFnBackward"
    odd = torch.randn(2, 16, 5, 5, requires_grad=True)  # 25 pixels: not a whole number of vectors
    assert not fused.lora_map_applies(odd, lora.U, lora.V)
    assert type(lora(odd).grad_fn).__name__ != "_LoRAMapFnBackward"
