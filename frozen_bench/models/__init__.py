"""The model table: ``model=NAME`` → its builder, the config groups it reads, and its kind.

A builder takes the plain config dict and the DataBundle (input shape, classes) and returns an
``nn.Module``. ``reads`` names the component groups (``transform``, ``activation``, ``adapter``)
the builder uses; ``frozen_bench.config.prune`` drops the others before the run's signature and
record, so a record says only what was trained and equal networks share one signature. It is a
tuple, or a function of the ``model`` section when what is read depends on an option (a frozen
mixing inside ``function_net``, the base network of ``masked``). ``kind`` says what trains:
``frozen`` (fixed mixing, only small parts train) or ``trained`` (a fully trained baseline).
"""

from __future__ import annotations

from torch import nn

from frozen_bench.models import (audio, cnn, dense, frozen_cnn, frozen_layer, frozen_mlp, function_net, linear,
                                 masked, resnet, trained_cnn, transformer, weightnet)
from frozen_bench.registry import Registry

PACT_MIXING = ("transform", "activation", "adapter")

MODELS = Registry("model")
MODELS.add("frozen_mlp", frozen_mlp.build, reads=PACT_MIXING)
MODELS.add("frozen_cnn", frozen_cnn.build, reads=PACT_MIXING)
MODELS.add("frozen_audio", audio.build_frozen_audio, reads=PACT_MIXING)
MODELS.add("frozen_transformer", transformer.build_frozen, reads=PACT_MIXING)
MODELS.add("frozen_resnet", resnet.build_frozen,
           # the structured conv's channel mixing is the transform group; random convs read no transform
           reads=lambda m: PACT_MIXING if m.get("conv", "structured") == "structured" else ("activation", "adapter"))
MODELS.add("bn_only_resnet", resnet.build_bn_only, reads=())
MODELS.add("trained_resnet", resnet.build_trained, reads=("activation",))
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


def build_model(cfg: dict, data) -> nn.Module:
    return MODELS.build(cfg["model"]["name"], cfg, data)
