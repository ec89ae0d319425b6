"""The model table: ``model=NAME`` → its builder and the config groups it reads.

A builder takes the plain config dict and the DataBundle (input shape, classes) and returns an
``nn.Module``; with ``model.budget`` it sizes its family through the one budget hook,
``budget.sized``. ``reads`` names the component groups (``transform``, ``activation``,
``adapter``) the builder uses; ``prune`` drops the others before the run's signature and record,
so a record says only what was trained and equal networks share one signature. It is a tuple, or
a function of the ``model`` section when what is read depends on an option (a frozen mixing
inside ``function_net``, the base network of ``masked``). What trains (frozen, trained, control)
is the fair comparison's ``family_kind``, set by ``conf/family/``. ``late_defaults`` names model
keys added after the family had records: at that value ``prune`` leaves them out, so an earlier
record keeps its signature (the network it trained is the one the default builds).
"""

from __future__ import annotations

from torch import nn

from frozen_bench.config import COMPONENT_GROUPS

from frozen_bench.models import (audio, cnn, dense, frozen_audio_cnn, frozen_cnn, frozen_layer, frozen_mlp, function_net, linear,
                                 masked, resnet, trained_cnn, transformer, weightnet)
from frozen_bench.nn.adapters import reads_rank
from frozen_bench.registry import Registry

PACT_MIXING = ("transform", "activation", "adapter")
RESNET_LATE = {"pool": "avg", "fine_sizing": False}  # keys that came after the ResNets' first records

MODELS = Registry("model")
MODELS.add("frozen_mlp", frozen_mlp.build, reads=PACT_MIXING)
MODELS.add("frozen_cnn", frozen_cnn.build, reads=PACT_MIXING)
MODELS.add("frozen_audio", audio.build_frozen_audio, reads=PACT_MIXING)
MODELS.add("frozen_transformer", transformer.build_frozen, reads=PACT_MIXING)
MODELS.add("frozen_audio_cnn", frozen_audio_cnn.build, reads=("transform", "activation"))
MODELS.add("frozen_resnet", resnet.build_frozen,
           # the structured conv's channel mixing is the transform group; random convs read no transform
           reads=lambda m: PACT_MIXING if m.get("conv", "structured") == "structured" else ("activation", "adapter"),
           late_defaults=RESNET_LATE)
MODELS.add("bn_only_resnet", resnet.build_bn_only, reads=(), late_defaults=RESNET_LATE)
MODELS.add("trained_resnet", resnet.build_trained, reads=("activation",), late_defaults=RESNET_LATE)
MODELS.add("dense_mlp", dense.build, reads=())
MODELS.add("linear", linear.build, reads=())
MODELS.add("trained_cnn", trained_cnn.build, reads=("activation",))
MODELS.add("separable_cnn", trained_cnn.build_separable, reads=("activation",))
MODELS.add("cnn", cnn.build, reads=())
MODELS.add("audio_cnn", audio.build_audio_cnn, reads=())
MODELS.add("transformer", transformer.build_trained, reads=())
MODELS.add("weightnet", weightnet.build, reads=())
MODELS.add("frozen_layer", frozen_layer.build, reads=("activation",))
MODELS.add("function_net", function_net.build,
           # a frozen mixing (model.mixing=wht|dct|...) takes its seed from transform.seed
           reads=lambda m: ("activation",) if m.get("mixing", "dense") == "dense" else ("activation", "transform"))
MODELS.add("masked", masked.build,
           # the frozen base network reads what its own model reads (init=random)
           reads=lambda m: reads({"name": m.get("base", "dense_mlp")}) if m.get("init", "random") == "random" else ())


def reads(model_cfg: dict) -> tuple[str, ...]:
    """The component groups the model of this ``model`` section reads."""
    r = MODELS.entry(model_cfg["name"]).reads
    return tuple(r(model_cfg) if callable(r) else r)


def prune(cfg: dict) -> dict:
    """The resolved config without the component groups its model does not read (and without
    ``adapter.rank`` when there is no adapter), so that equal networks get one signature and a
    record names only what was trained: ``model=dense_mlp transform=dct`` is ``model=dense_mlp``; a
    model key at its late default is left out too."""
    model = cfg.get("model") or {}
    if model.get("name") not in MODELS:
        return cfg  # composing already rejects an unknown model; a plain dict caller gets the builder's error
    keep = set(reads(model))
    out = {k: v for k, v in cfg.items() if k not in COMPONENT_GROUPS or k in keep}
    if isinstance(out.get("adapter"), dict) and not reads_rank(out["adapter"].get("name")):
        out["adapter"] = {"name": "none"}
    if isinstance(out.get("augment"), dict) and out["augment"].get("name") == "none":
        del out["augment"]  # no augmentation: the signature of a run from before the group existed
    late = MODELS.entry(model["name"]).meta.get("late_defaults", {})
    if any(model.get(k, object()) == v for k, v in late.items()):
        out["model"] = {k: v for k, v in model.items() if k not in late or v != late[k]}
    return out


def build_model(cfg: dict, data) -> nn.Module:
    return MODELS.build(cfg["model"]["name"], cfg, data)
