"""``model=function_net``: the function-fit blog's 1-D MLP, and a frozen-mixing variant.

``mixing=dense`` (the blog's net): Linear(1,H) → act → [Linear(H,H) → act] × hidden_layers →
Linear(H,1), dropout after each activation. ``mixing=wht|dct|fft|random_orth|identity`` keeps the
trained input lift Linear(1,H) and output Linear(H,1) but replaces each hidden Linear(H,H) with the
fixed transform, then a light per-channel norm and the learned activation (``activation=``), as in
the frozen MLP (WHT rounds H up to a power of two).

The model records its exact linear-region count on the data interval (and on a 3× wider one, to see
where the capacity sits), plus its linear pieces as JSON for the segment plot.
"""

from __future__ import annotations

import json

from torch import nn

from frozen_bench.models.blocks import activation_args
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.norms import make_norm
from frozen_bench.nn.transforms import TRANSFORMS, make_transform, transform_out_dim

MIXINGS = ("dense", *TRANSFORMS)
MAX_PIECES = 2000  # cap on the pieces written to a record (the count itself is never capped)


class FunctionNet(nn.Module):
    def __init__(self, hidden_dim: int = 10, hidden_layers: int = 2, dropout: float = 0.0, activation: str = "relu",
                 act_kwargs: dict | None = None, mixing: str = "dense", norm: str = "light", seed: int = 0):
        super().__init__()
        if not 0 <= hidden_layers <= 4:
            raise ValueError(f"model.hidden_layers must be 0..4 (the blog's range), got {hidden_layers}")
        if mixing not in MIXINGS:
            raise ValueError(f"unknown model.mixing {mixing!r}; choose one of {', '.join(MIXINGS)}")
        if mixing != "dense":
            hidden_dim = transform_out_dim(mixing, hidden_dim)
        if norm == "layernorm":
            raise ValueError("model.norm=layernorm is not piecewise linear in x; use light or none for function_net")
        self.mixing, self.hidden_dim, self.activation = mixing, hidden_dim, activation
        act = lambda: make_activation(activation, hidden_dim, **(act_kwargs or {}))  # noqa: E731
        drop = lambda: [nn.Dropout(dropout)] if dropout else []  # noqa: E731
        layers: list[nn.Module] = [nn.Linear(1, hidden_dim), act(), *drop()]
        for i in range(hidden_layers):
            if mixing == "dense":
                layers += [nn.Linear(hidden_dim, hidden_dim), act(), *drop()]
            else:
                layers += [make_transform(mixing, hidden_dim, seed=seed + i), make_norm(norm, hidden_dim), act(), *drop()]
        layers.append(nn.Linear(hidden_dim, 1))
        self.net = nn.Sequential(*layers)
        self.domain: dict = {}  # function name and interval of the data, set by the builder

    def forward(self, x):  # (N, 1) -> (N, 1)
        return self.net(x)

    def sequential_layers(self):
        return list(self.net)

    def record_metrics(self) -> dict:
        from frozen_bench.nn.regions import linear_pieces

        if not self.domain:
            return {}
        lo, hi = self.domain["lo"], self.domain["hi"]
        pieces = linear_pieces(self, lo, hi)
        span = hi - lo
        wide = linear_pieces(self, lo - span, hi + span)
        return {
            "function": self.domain["function"],
            "fn_lo": lo, "fn_hi": hi,
            "mixing": self.mixing,
            "activation": self.activation,  # the identity column, filled for this model too
            "hidden_dim": self.hidden_dim,
            "linear_regions": len(pieces),
            "linear_regions_wide": len(wide),
            "fn_pieces": pieces_json(pieces),
        }


def pieces_json(pieces) -> str:
    return json.dumps([[float(f"{v:.6g}") for v in p] for p in pieces[:MAX_PIECES]])


def build(cfg: dict, data) -> FunctionNet:
    m = cfg["model"]
    if data.input_shape != (1,):
        raise ValueError(f"model=function_net maps (N, 1) to (N, 1); dataset {data.name} has inputs {data.input_shape}: use dataset=functions")
    net = FunctionNet(hidden_dim=int(m.get("hidden_dim", 10)), hidden_layers=int(m.get("hidden_layers", 2)),
                      dropout=float(m.get("dropout", 0.0)), **activation_args(cfg, default="relu"), mixing=str(m.get("mixing", "dense")),
                      norm=str(m.get("norm", "light")), seed=int(cfg.get("transform", {}).get("seed", 0)))
    if "function" in data.info:
        net.domain = {"function": data.info["function"], "lo": data.info["lo"], "hi": data.info["hi"]}
    return net
