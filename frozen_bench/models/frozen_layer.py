"""``model=frozen_layer``: a plain MLP with chosen Linear layers wrapped in ``Frozen``.

The neural-tangents recipe (Dense → Erf → Frozen(Dense) → Erf → Dense) in PyTorch. The model
records, per Linear layer, the mean and last gradient L2 norm seen by the optimizer (taken right
after ``backward``, before clipping) and how far the weights moved from their initial values, so
the record itself shows that a frozen layer got exactly zero gradient and did not move.
"""

from __future__ import annotations

import math

from torch import nn

from frozen_bench.models.blocks import activation_args
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.frozen import Frozen


class FrozenLayerMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, width: int = 64, layers: int = 3,
                 frozen: list[int] | tuple[int, ...] = (1,), activation: str = "relu", act_kwargs: dict | None = None):
        super().__init__()
        if layers < 1:
            raise ValueError(f"model.layers must be >= 1, got {layers}")
        bad = [i for i in frozen if not 0 <= int(i) < layers]
        if bad:
            raise ValueError(f"model.frozen has layer indices {bad} outside 0..{layers - 1}; index the Linear layers from 0")
        self.frozen_idx = sorted({int(i) for i in frozen})
        dims = [in_dim] + [width] * (layers - 1) + [out_dim]
        mods: list[nn.Module] = []
        self.linears: list[nn.Linear] = []
        for i in range(layers):
            lin = nn.Linear(dims[i], dims[i + 1])
            self.linears.append(lin)
            mods.append(Frozen(lin) if i in self.frozen_idx else lin)
            if i < layers - 1:
                mods.append(make_activation(activation, width, **(act_kwargs or {})))
        self.net = nn.Sequential(*mods)
        self._init = [[p.detach().clone() for p in lin.parameters()] for lin in self.linears]
        self._grad_sum = [0.0] * layers
        self._grad_last = [0.0] * layers
        self._steps = 0

    def forward(self, x):
        return self.net(x.flatten(1))

    def layer_grad_norms(self) -> list[float]:
        """L2 norm of each Linear layer's (weight, bias) gradient; a missing gradient is 0."""
        out = []
        for lin in self.linears:
            sq = sum(float(p.grad.detach().double().pow(2).sum()) for p in lin.parameters() if p.grad is not None)
            out.append(math.sqrt(sq))
        return out

    def after_backward(self) -> None:
        norms = self.layer_grad_norms()
        self._grad_last = norms
        self._grad_sum = [a + b for a, b in zip(self._grad_sum, norms)]
        self._steps += 1

    def record_metrics(self) -> dict:
        m: dict = {"frozen_layers": ",".join(map(str, self.frozen_idx))}
        for i, lin in enumerate(self.linears):
            m[f"grad_norm_layer{i}_mean"] = self._grad_sum[i] / max(self._steps, 1)
            m[f"grad_norm_layer{i}_last"] = self._grad_last[i]
            moved = sum(float((p.detach() - p0.to(p.device)).double().pow(2).sum()) for p, p0 in zip(lin.parameters(), self._init[i]))
            m[f"weight_change_layer{i}"] = math.sqrt(moved)
        return m


def build(cfg: dict, data) -> FrozenLayerMLP:
    m = cfg["model"]
    out_dim = data.num_classes if data.task != "regression" else 1
    return FrozenLayerMLP(math.prod(data.input_shape), out_dim, width=int(m.get("width", 64)),
                          layers=int(m.get("layers", 3)), frozen=list(m.get("frozen", [1]) or []),
                          **activation_args(cfg, default="relu"))
