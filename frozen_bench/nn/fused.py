"""The fused layer kernels: a layer's steps in one pass over its map, forward and backward.

Each runs a kernel of ``csrc/fastmix.cpp`` (``native.py``) where ``*_applies`` (or the function
itself) finds its inputs on the kernels' path, and is the same map as the plain torch expression up
to float rounding (tests/nn/test_fused.py checks each against it):

- ``bislope``: the bi-slope PAct ``a·relu(x) − b·relu(−x) + c``, one pass each way;
- ``batchnorm_bislope``: training-mode BatchNorm2d then the bi-slope PAct, as one op;
- ``max_pool2x2``: 2x2 max pooling without an index tensor;
- ``stage_tail``: a CNN stage's evaluation tail (norm, PAct, LoRA, pool) in one pass;
- ``lora_map``: LoRA on feature maps in training, in the low-rank form;
- ``bank_wht``: a frozen stage's fixed conv (depthwise bank, then the WHT over channels) as what it is;
- ``wht_block``: a frozen MLP block at evaluation (WHT, light norm, bi-slope PAct) in one call.
"""

from __future__ import annotations

import math

import torch

from frozen_bench.nn import native
from frozen_bench.nn.fast import is_power_of_two


# ---------------------------------------------------------------- bi-slope PAct (one pass each way)
#
# f(x) = a x+ - b x- + c per channel (dim 1 of (B, C, ...)). Autograd on that expression makes ~7
# passes over the activation forward and ~12 backward; the kernel makes one each (the backward also
# sums the three parameter gradients per channel). The same numbers up to float rounding.


def bislope_torch(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    shape = (1, -1, *([1] * (x.ndim - 2)))
    a, b, c = a.view(shape), b.view(shape), c.view(shape)
    return a * torch.relu(x) - b * torch.relu(-x) + c


def _bislope_ok(x, a, b, c) -> bool:
    return (x.ndim >= 2 and x.is_contiguous() and native.usable(x) and x.numel() > 0
            and all(native.plain_like(p, x) for p in (a, b, c)))


def _bislope_native(x, a, b, c):
    out = torch.empty_like(x)
    B, C = x.shape[0], x.shape[1]
    native.kernel("bislope_fwd", x.dtype)(x.data_ptr(), out.data_ptr(), a.data_ptr(), b.data_ptr(), c.data_ptr(),
                               B, C, x.numel() // max(1, B * C), torch.get_num_threads())
    return out


class _BiSlopeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, b, c):
        ctx.save_for_backward(x, a, b)
        return _bislope_native(x, a, b, c)

    @staticmethod
    def backward(ctx, g):
        x, a, b = ctx.saved_tensors
        g = g.contiguous()
        B, C = x.shape[0], x.shape[1]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        sums = torch.empty(3, C, dtype=torch.float64)
        native.kernel("bislope_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), 0 if gx is None else gx.data_ptr(), a.data_ptr(),
                                   b.data_ptr(), sums.data_ptr(), B, C, x.numel() // max(1, B * C),
                                   torch.get_num_threads())
        sums = sums.to(a.dtype)
        # f = a relu(x) + b min(x, 0) + c: df/da = x+, df/db = min(x, 0) (the x < 0 sum), df/dc = 1
        return gx, sums[0], sums[1], sums[2]


def bislope(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a·relu(x) − b·relu(−x) + c`` with (C,) parameters on dim 1 of x; one pass with the kernels."""
    if not _bislope_ok(x, a, b, c):
        return bislope_torch(x, a, b, c)
    if torch.is_grad_enabled() and (x.requires_grad or a.requires_grad or b.requires_grad or c.requires_grad):
        return _BiSlopeFn.apply(x, a, b, c)
    return _bislope_native(x, a, b, c)


# ---------------------------------------------------------------- BatchNorm + bi-slope, training
#
# BatchNorm2d in training mode followed by the bi-slope PAct, as one op: the batch statistics in one
# pass, the normalized and activated map written in a second (unfused, BatchNorm writes its output
# and the PAct reads it back); backward: one pass for the five parameter sums, one more for the
# input gradient only when the input needs one (a frozen CNN's first stage does not). The same
# numbers as ``bn(x)`` then ``bislope`` up to float rounding, running statistics updated alike.


def batchnorm_bislope_applies(bn, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> bool:
    """Training-mode affine ``nn.BatchNorm2d`` with running statistics on a contiguous 4-D map the
    kernels take (every parameter of x's dtype, plain and contiguous)."""
    return (isinstance(bn, torch.nn.BatchNorm2d) and bn.training and bn.affine and bn.track_running_stats
            and bn.running_mean is not None and x.ndim == 4 and x.shape[0] * x.shape[2] * x.shape[3] > 1
            and _bislope_ok(x, a, b, c) and _bislope_ok(x, a, bn.weight, bn.bias))


class _BNBiSlopeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, a, b, c, mean, inv):
        ctx.save_for_backward(x, gamma, beta, a, b, mean, inv)
        return _bnact_forward(x, gamma, beta, a, b, c, mean, inv)

    @staticmethod
    def backward(ctx, g):
        x, gamma, beta, a, b, mean, inv = ctx.saved_tensors
        g = g.contiguous()
        B, C = x.shape[0], x.shape[1]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        sums = torch.empty(5, C, dtype=torch.float64)
        native.kernel("bnact_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), 0 if gx is None else gx.data_ptr(), mean.data_ptr(),
                                 inv.data_ptr(), gamma.data_ptr(), beta.data_ptr(), a.data_ptr(), b.data_ptr(),
                                 sums.data_ptr(), B, C, x.numel() // (B * C), torch.get_num_threads())
        sums = sums.to(x.dtype)
        return gx, sums[3], sums[4], sums[0], sums[1], sums[2], None, None


def batchnorm_bislope(x: torch.Tensor, bn: torch.nn.BatchNorm2d, a: torch.Tensor, b: torch.Tensor,
                      c: torch.Tensor) -> torch.Tensor:
    """``bislope(bn(x), a, b, c)`` for a training-mode BatchNorm2d (``batchnorm_bislope_applies``)."""
    B, C = x.shape[0], x.shape[1]
    mean, var = torch.empty(C, dtype=torch.float64), torch.empty(C, dtype=torch.float64)
    native.kernel("bnact_stats", x.dtype)(x.data_ptr(), mean.data_ptr(), var.data_ptr(), B, C, x.numel() // (B * C),
                               torch.get_num_threads())
    n = x.numel() // C
    with torch.no_grad():  # as nn.BatchNorm2d.forward in training mode
        bn.num_batches_tracked.add_(1)
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(mean.to(bn.running_mean.dtype), alpha=m)
        bn.running_var.mul_(1 - m).add_((var * n / max(n - 1, 1)).to(bn.running_var.dtype), alpha=m)
    inv = torch.rsqrt(var + bn.eps)
    if torch.is_grad_enabled() and (x.requires_grad or any(t.requires_grad for t in (bn.weight, bn.bias, a, b, c))):
        return _BNBiSlopeFn.apply(x, bn.weight, bn.bias, a, b, c, mean, inv)
    return _bnact_forward(x, bn.weight, bn.bias, a, b, c, mean, inv)


def _bnact_forward(x, gamma, beta, a, b, c, mean, inv):
    y = torch.empty_like(x)
    B, C = x.shape[0], x.shape[1]
    native.kernel("bnact_fwd", x.dtype)(x.data_ptr(), y.data_ptr(), mean.data_ptr(), inv.data_ptr(), gamma.data_ptr(),
                             beta.data_ptr(), a.data_ptr(), b.data_ptr(), c.data_ptr(), B, C,
                             x.numel() // (B * C), torch.get_num_threads())
    return y


# ---------------------------------------------------------------- 2x2 max pool (no index tensor)
#
# torch's max_pool2d writes an int64 index per output (twice the output's bytes) and its backward
# zero-fills, then scatters; the kernel recomputes each window's winner from the input instead.


def _pool_ok(x) -> bool:
    return x.ndim == 4 and x.is_contiguous() and native.usable(x) and x.numel() > 0 and x.shape[2] >= 2 and x.shape[3] >= 2


def _maxpool2_native(x):
    B, C, H, W = x.shape
    out = torch.empty(B, C, H // 2, W // 2, dtype=x.dtype)
    native.kernel("maxpool2_fwd", x.dtype)(x.data_ptr(), out.data_ptr(), B * C, H, W, torch.get_num_threads())
    return out


class _MaxPool2Fn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _maxpool2_native(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        g = g.contiguous()
        B, C, H, W = x.shape
        gx = torch.empty_like(x)
        native.kernel("maxpool2_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), gx.data_ptr(), B * C, H, W, torch.get_num_threads())
        return gx


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` on (B, C, H, W): the same values and gradients (first maximum of a
    window wins, NaN counts as the maximum); one pass each way with the kernels."""
    if not _pool_ok(x):
        return torch.nn.functional.max_pool2d(x, 2)
    if torch.is_grad_enabled() and x.requires_grad:
        return _MaxPool2Fn.apply(x)
    return _maxpool2_native(x)


# ---------------------------------------------------------------- a CNN stage's tail at evaluation
#
# norm (evaluation BatchNorm as a per-channel affine), bi-slope PAct, LoRA and the 2x2 max pool, in
# one pass over the stage's map (no full-resolution intermediate is written): see StageTail in
# csrc/fastmix.cpp. Evaluation only (no graph); the same numbers as the separate ops up to rounding.


def stage_tail_applies(z: torch.Tensor, *params) -> bool:
    """A contiguous (B, C, H, W) CPU map of at least 2x2, no graph wanted, every given parameter
    (None: that step is skipped) a plain contiguous tensor of z's dtype."""
    return (z.ndim == 4 and z.shape[2] >= 2 and z.shape[3] >= 2 and z.numel() > 0 and z.is_contiguous()
            and native.usable(z) and not (torch.is_grad_enabled() and z.requires_grad)
            and all(p is None or native.plain_like(p, z) for p in params))


def stage_tail(z: torch.Tensor, scale=None, shift=None, a=None, b=None, c=None, U=None, Vt=None) -> torch.Tensor:
    """``max_pool2d(lora(bislope(scale·z + shift)), 2)`` on (B, C, H, W), without a graph: scale/shift
    (C,) (None: no affine), bi-slope a, b, c (C,) (None: no PAct), LoRA U (C, r) and Vt = Vᵀ (C, r)
    (None: no adapter; the map h + (h U) V at every pixel). Callers check ``stage_tail_applies``."""
    B, C, H, W = z.shape
    y = torch.empty(B, C, H // 2, W // 2, dtype=z.dtype)
    ptr = lambda p: 0 if p is None else p.data_ptr()  # noqa: E731 - null pointer: the step is skipped
    native.kernel("stage_tail", z.dtype)(z.data_ptr(), y.data_ptr(), ptr(scale), ptr(shift), ptr(a), ptr(b), ptr(c), ptr(U),
                              ptr(Vt), B, C, H, W, 0 if U is None else U.shape[1], torch.get_num_threads())
    return y


# ---------------------------------------------------------------- LoRA on feature maps, training
#
# x + Vᵀ(Uᵀx) at every pixel of (B, C, ...) in the low-rank form, one image's (C, S) block at a time
# in cache (LoRAMap in csrc/fastmix.cpp): forward and backward read and write each map about once,
# with 12Cr FLOPs a pixel, where the merged (C, C) product makes 6C² and copies the map to and from
# a channels-first (C, B·S) layout. The same numbers as the expression up to float rounding.


def lora_map_applies(x: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> bool:
    """A contiguous (B, C, ...) map whose pixel count per image is a multiple of the vector width,
    with plain contiguous (C, r), (r, C) factors of its dtype."""
    if not (x.ndim > 2 and x.is_contiguous() and x.numel() > 0 and native.usable(x)):
        return False
    S = x.numel() // (x.shape[0] * x.shape[1])
    return S % _lanes(x) == 0 and native.plain_like(U, x) and native.plain_like(V, x)


_LANES: dict = {}


def _lanes(x: torch.Tensor) -> int:
    """Elements of x's dtype in one of the kernels' vector registers (asked of the library once)."""
    n = _LANES.get(x.dtype)
    if n is None:
        n = _LANES[x.dtype] = native.lib().fb_vector_bytes() // x.element_size()
    return n


class _LoRAMapFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, U, V):
        B, C = x.shape[0], x.shape[1]
        S, r = x.numel() // (B * C), U.shape[1]
        Vt = V.T.contiguous()
        y, D = torch.empty_like(x), torch.empty(B, r, S, dtype=x.dtype)
        native.kernel("lora_fwd", x.dtype)(x.data_ptr(), y.data_ptr(), D.data_ptr(), U.data_ptr(), Vt.data_ptr(), B, C, S, r,
                                torch.get_num_threads())
        ctx.save_for_backward(x, U, Vt, D)
        return y

    @staticmethod
    def backward(ctx, g):
        x, U, Vt, D = ctx.saved_tensors
        g = g.contiguous()
        B, C = x.shape[0], x.shape[1]
        S, r = x.numel() // (B * C), U.shape[1]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        gU, gV = torch.empty(C, r, dtype=torch.float64), torch.empty(r, C, dtype=torch.float64)
        native.kernel("lora_bwd", x.dtype)(x.data_ptr(), g.data_ptr(), D.data_ptr(), 0 if gx is None else gx.data_ptr(),
                                gU.data_ptr(), gV.data_ptr(), U.data_ptr(), Vt.data_ptr(), B, C, S, r,
                                torch.get_num_threads())
        return gx, gU.to(U.dtype), gV.to(U.dtype)


def lora_map(x: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``x + Vᵀ Uᵀ x`` over dim 1 of (B, C, ...) with autograd (callers check ``lora_map_applies``)."""
    return _LoRAMapFn.apply(x, U, V)


# ---------------------------------------------------------------- a frozen stage's fixed conv, structured
#
# The depthwise 3x3 filter bank then the WHT over channels (truncated to w outputs), computed as what it
# is (BankWHT in csrc/fastmix.cpp): 18CK + n2 log2 n2 FLOPs a pixel, where its dense (w, C, 3, 3) form
# makes 18wC (~10x more at C = 64, w = 128). Forward and the input gradient (the map has no parameter).


def bank_wht_applies(x: torch.Tensor, taps: torch.Tensor) -> bool:
    """A contiguous (B, C, H, W) CPU map and (K, 9) taps of its dtype."""
    return x.ndim == 4 and x.is_contiguous() and x.numel() > 0 and native.usable(x) and native.plain_like(taps, x)


def _bank_wht_call(kind, src, taps, C, K, n2, w):
    B, _, H, W = src.shape
    out = torch.empty(B, w if kind == "fwd" else C, H, W, dtype=src.dtype)
    native.kernel(f"bankwht_{kind}", src.dtype)(src.data_ptr(), out.data_ptr(), taps.data_ptr(), B, C, H, W, K, n2, w,
                                     torch.get_num_threads())
    return out


class _BankWHTFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, taps, flipped, n2, w):
        ctx.meta = (taps, flipped, x.shape[1], n2, w)
        return _bank_wht_call("fwd", x, taps, x.shape[1], taps.shape[0], n2, w)

    @staticmethod
    def backward(ctx, g):
        taps, flipped, C, n2, w = ctx.meta
        return _bank_wht_call("bwd", g.contiguous(), flipped, C, taps.shape[0], n2, w), None, None, None, None


def bank_wht(x: torch.Tensor, taps: torch.Tensor, flipped: torch.Tensor, n2: int, w: int) -> torch.Tensor:
    """The first ``w`` channels of ``H_{n2}`` applied over the channels of the fold to ``n2`` of the
    depthwise bank output: bank output c·K + j (filter j, (K, 9) ``taps``, on channel c) adds into
    channel (c·K + j) mod n2. ``flipped``: the taps reversed (the input gradient's correlation).
    Callers check ``bank_wht_applies``."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _BankWHTFn.apply(x, taps, flipped, n2, w)
    return _bank_wht_call("fwd", x, taps, x.shape[1], taps.shape[0], n2, w)


# ---------------------------------------------------------------- a frozen MLP block at evaluation
#
# bislope(scale·wht(x) + shift) on (B, n) rows in one call (WHTBlock in csrc/fastmix.cpp): at batch 1
# the three separate calls' fixed costs were most of a block's time. Evaluation only (no graph).


def wht_block_applies(x: torch.Tensor, *params) -> bool:
    """A contiguous (B, n) CPU batch, n a power of two, no graph wanted, (n,) plain parameters."""
    return (x.ndim == 2 and x.is_contiguous() and x.numel() > 0 and is_power_of_two(x.shape[1]) and native.usable(x)
            and not torch.is_grad_enabled() and all(native.plain_like(p, x) for p in params))


def wht_block(x: torch.Tensor, scale, shift, a, b, c) -> torch.Tensor:
    """``bislope(wht(x)·scale + shift)`` with (n,) per-channel parameters; callers check ``wht_block_applies``."""
    rows, n = x.shape
    y = torch.empty_like(x)
    native.kernel("wht_block", x.dtype)(x.data_ptr(), y.data_ptr(), scale.data_ptr(), shift.data_ptr(), a.data_ptr(), b.data_ptr(),
                             c.data_ptr(), rows, n, 1.0 / math.sqrt(n), torch.get_num_threads())
    return y
