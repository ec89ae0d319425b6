"""``model=masked``: train only binary weight masks over a frozen network.

The frozen network is either a fresh random one (``model.init=random``: a ``model.base`` network,
e.g. dense_mlp of ``model.width``×``model.depth``, from the run's seed) or the trained weights of
another run (``model.init=<run dir>`` of a run made with ``trainer.save_model=true``; its
config.yaml says which architecture to build). Every Linear layer becomes a ``MaskedLinear``
(Gumbel-sigmoid + hard straight-through, see ``frozen_bench.nn.masks``); every other parameter
is frozen. The loss adds ``reg_weight · Σ logits``, which pushes logits down (sparser masks).
"""

from __future__ import annotations

from torch import nn

from frozen_bench import models
from frozen_bench.nn.masks import MaskedLinear, mask_linears


class MaskedNet(nn.Module):
    def __init__(self, base: nn.Module, logit_init: float = 2.0, tau: float = 1.0, reg_weight: float = 0.0,
                 init: str = "random"):
        super().__init__()
        self.base = base
        self.layer_names = mask_linears(base, logit_init, tau)
        if not self.layer_names:
            raise ValueError("model=masked: the base network has no Linear layer to mask; use a Linear-based model (dense_mlp)")
        self.reg_weight = float(reg_weight)
        self.init = init

    def forward(self, x):
        return self.base(x)

    def masked_layers(self) -> list[tuple[str, MaskedLinear]]:
        mods = dict(self.base.named_modules())
        return [(n, mods[n]) for n in self.layer_names]

    def regularizer(self):
        total = sum(m.mask.logits.sum() for _, m in self.masked_layers())
        return self.reg_weight * total

    def record_metrics(self) -> dict:
        kept = total = 0
        out: dict = {"mask_init": "random" if self.init == "random" else "pretrained", "mask_source": self.init}
        for name, m in self.masked_layers():
            out[f"mask_density_{name.replace('.', '_')}"] = m.mask.density()
            kept += int((m.mask.logits.detach() >= 0).sum())
            total += m.mask.logits.numel()
        out["mask_density"] = kept / total
        out["mask_reg_weight"] = self.reg_weight
        return out


def build(cfg: dict, data) -> MaskedNet:
    m = cfg["model"]
    init = str(m.get("init", "random"))
    if init == "random":
        base_name = m.get("base", "dense_mlp")
        if base_name == "masked":
            raise ValueError("model.base=masked would nest masks; use model.base=dense_mlp")
        base_cfg = {**cfg, "model": {"name": base_name, "width": int(m.get("width", 256)), "depth": int(m.get("depth", 2)),
                                     "budget": None, "dropout": 0.0}}
        base = models.build_model(base_cfg, data)
    else:
        from frozen_bench.models.saved import load_run

        src_cfg, state = load_run(init)
        if src_cfg.get("model", {}).get("name") == "masked":
            raise ValueError(f"model.init={init} is itself a masked run; point it at the run that trained the weights")
        base = models.build_model(src_cfg, data)
        try:
            base.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ValueError(f"model.init={init}: its weights do not fit this dataset's shapes ({first}); "
                             f"use the same dataset as that run ({src_cfg.get('dataset', {}).get('name')})") from None
    return MaskedNet(base, float(m.get("logit_init", 2.0)), float(m.get("tau", 1.0)), float(m.get("reg_weight", 0.0)), init)
