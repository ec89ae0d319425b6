"""``Frozen(module)``: a layer that computes but never learns.

PyTorch has no per-call ``stop_gradient`` on parameters, so freezing is done two ways at once,
and either alone would suffice for gradients:

1. every wrapped parameter gets ``requires_grad=False``, so ``trainable_params`` does not count it
   and ``train.param_groups`` leaves it out of the optimizer (no weight decay can touch it);
2. the forward pass runs the module on *detached* copies of its parameters
   (``torch.func.functional_call``), the analogue of JAX's ``lax.stop_gradient`` in the
   neural-tangents recipe, so even if someone later flips ``requires_grad`` back on, no gradient
   reaches these tensors: their ``.grad`` stays ``None``.

Buffers (BatchNorm running statistics) are frozen too: the wrapped module is kept in eval mode
whatever ``.train()`` is called with, so the layer's whole state stays bit-identical.
Gradients still flow *through* the layer to the layers before it.
"""

from __future__ import annotations

import torch
from torch import nn


class Frozen(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        for p in module.parameters():
            p.requires_grad_(False)
        module.eval()

    def train(self, mode: bool = True) -> "Frozen":
        # the wrapper's own flag follows the parent; the wrapped layer stays in eval mode
        self.training = mode
        self.module.eval()
        return self

    def detached_params(self) -> dict[str, torch.Tensor]:
        return {name: p.detach() for name, p in self.module.named_parameters()}

    def forward(self, *args, **kwargs):
        return torch.func.functional_call(self.module, self.detached_params(), args, kwargs)

    def extra_repr(self) -> str:
        return "frozen: no gradient, not in the optimizer, eval mode"
