"""The export view of a trained model: the same map, written in operators an exporter can record.

``export_view(model)`` returns a copy of ``model`` (in eval mode) whose fixed transforms are
replaced by graph-friendly modules that compute the same numbers:

- WHT: its radix-2 butterflies, log2(n) stages of reshape → add/sub → stack (no matrix at all);
- DCT-II: Makhoul's form, one real FFT (ONNX ``DFT``) between an O(n) reordering and O(n)
  twiddle tables (constants of the graph);
- FFT: the orthonormal real FFT and the same real packing as ``nn.fast.fft_real``;
- random_orth: its n×n matrix (it *is* a dense matrix; exported as a float32 constant);
- identity: nothing.

``dense=True`` (``frozen-bench export --dense``) writes WHT, DCT and FFT as their dense n×n
matrices instead (one MatMul each), e.g. for a runtime without a DFT operator.
The compiled CPU kernels are never used while a graph is recorded (``nn.native.torch_only``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from frozen_bench.nn import fast, native
from frozen_bench.nn.transforms import DCT, FFT, WHT, FixedTransform, RandomOrth


def wht_butterfly(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal Sylvester-order WHT along the last axis as radix-2 butterflies (n a power of 2)."""
    n = x.shape[-1]
    y, h = x.reshape(-1, n), 1
    while h < n:
        y = y.reshape(-1, n // (2 * h), 2, h)  # pairs (j, j + h) inside each block of 2h
        a, b = y[:, :, 0], y[:, :, 1]
        y = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return y.reshape(x.shape) * (1.0 / math.sqrt(n))


class ExportTransform(nn.Module):
    """A fixed transform for export: pad, then ``kind``'s operators (see the module docstring)."""

    def __init__(self, t: FixedTransform, dense: bool = False):
        super().__init__()
        self.dim, self.out_dim, self.kind = t.dim, t.out_dim, type(t).name
        n = t.out_dim
        if isinstance(t, RandomOrth) or (dense and isinstance(t, (WHT, DCT, FFT))):
            with torch.no_grad(), native.torch_only():
                m = t.mix(torch.eye(n, dtype=torch.float64)).float()  # row i = T(e_i): y = x @ m
            self.register_buffer("matrix", m.contiguous())
            self.kind = "matrix"
        elif isinstance(t, DCT):
            C, S, _, _ = fast.dct_tables(n, torch.float32, torch.device("cpu"))
            self.register_buffer("C", C.clone())
            self.register_buffer("S", S.clone())

    def forward(self, x):  # (B, dim) -> (B, out_dim)
        if x.shape[-1] < self.out_dim:
            x = nn.functional.pad(x, (0, self.out_dim - x.shape[-1]))
        return self.mix(x)

    def mix(self, x):  # (..., out_dim) -> (..., out_dim), already padded: what FixedTransform.mix is
        if self.kind == "matrix":
            return x @ self.matrix
        if self.kind == "wht":
            return wht_butterfly(x)
        if self.kind == "dct":
            return self._dct(x)
        if self.kind == "fft":
            return fast.fft_real_torch(x)
        return x  # identity

    def _dct(self, x):
        n = x.shape[-1]
        v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
        V = torch.fft.rfft(v, dim=-1)
        re, im = V.real, V.imag
        lo = self.C * re + self.S * im  # y_0 .. y_{n//2}
        K = (n - 1) // 2
        hi = (self.S * re - self.C * im)[..., 1:K + 1].flip(-1)  # y_{n-K} .. y_{n-1}
        return torch.cat([lo, hi], dim=-1)


class ExportPermutation(nn.Module):
    """A learned permutation (``model.permute=learned``) as what it is at evaluation: an index.
    The buffer is named after the keys it comes from (``keys_index``), so the export record counts
    it with the trainable bytes."""

    def __init__(self, p):
        super().__init__()
        self.register_buffer("keys_index", p.permutation().clone())

    def forward(self, x):  # (B, W)
        return x[:, self.keys_index]


def export_view(model: nn.Module, dense: bool = False) -> nn.Module:
    """A copy of ``model`` in eval mode with every fixed transform as an ``ExportTransform`` and
    every learned permutation as its index."""
    from frozen_bench.models.frozen_mlp import LearnedPermutation

    view = copy.deepcopy(model).eval()
    for name, m in list(view.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, FixedTransform):
                setattr(m, child_name, ExportTransform(child, dense=dense))
            elif isinstance(child, LearnedPermutation):
                setattr(m, child_name, ExportPermutation(child))
    return view


def transforms_of(model: nn.Module) -> list[str]:
    """How each fixed transform of an export view is written (``wht``, ``dct``, ``fft``, ``matrix``, ...)."""
    return [m.kind for m in model.modules() if isinstance(m, ExportTransform)]
