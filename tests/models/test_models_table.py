"""One test over the model table: every model builds on its dataset's shapes, runs forward and
backward, gives no gradient to any fixed part, and reports the trainable count it has; every
family sized by model.budget lands in [0.9·B, B] or says why not; the config a model does not
read never reaches its signature."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

from frozen_bench.config import conf_dir
from frozen_bench.data.bundle import DataBundle
from frozen_bench.errors import UserError
from frozen_bench.models import MODELS, build_model, prune, reads
from frozen_bench.record.identity import record_fields
from frozen_bench.record.signature import signature
from frozen_bench.train import compute as C
from frozen_bench.train import measure as M

# the shapes each model is meant for: (input shape, classes, task)
SHAPES = {"image": ((1, 28, 28), 10, "classification"), "flat": ((64,), 10, "classification"),
          "audio": ((40, 32), 12, "classification"), "fn": ((1,), 0, "regression")}
ON = {"frozen_mlp": "flat", "dense_mlp": "flat", "frozen_layer": "flat", "masked": "flat", "linear": "image",
      "frozen_cnn": "image", "trained_cnn": "image", "separable_cnn": "image", "cnn": "image", "weightnet": "image",
      "frozen_audio": "audio", "audio_cnn": "audio", "frozen_audio_cnn": "audio", "function_net": "fn",
      "frozen_transformer": "image", "transformer": "image",
      "frozen_resnet": "image", "bn_only_resnet": "image", "trained_resnet": "image"}


def bundle(kind: str, n: int = 6) -> DataBundle:
    shape, classes, task = SHAPES[kind]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=g)
    y = torch.randn(n, 1, generator=g) if task == "regression" else torch.arange(n) % classes
    return DataBundle(kind, x, y, x, y, x, y, num_classes=classes, task=task,
                      info={"function": "exp", "lo": -1.0, "hi": 1.0} if kind == "fn" else {})


def composed(*overrides: str) -> dict:
    from omegaconf import OmegaConf

    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def test_every_model_of_the_table_has_a_config_and_a_shape():
    assert set(MODELS.names()) == set(ON), "a new model needs its shapes here"
    for name in MODELS.names():
        assert composed(f"model={name}")["model"]["name"] == name


@pytest.mark.parametrize("name", sorted(ON))
def test_model_builds_runs_and_freezes_what_it_says(name):
    data = bundle(ON[name])
    torch.manual_seed(0)
    model = build_model(prune(composed(f"model={name}")), data)
    out = model(data.x_train)
    assert out.shape[0] == len(data.x_train) and torch.isfinite(out).all()
    out.float().pow(2).mean().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    fixed = [p for p in model.parameters() if not p.requires_grad]
    assert M.trainable_params(model) == sum(p.numel() for p in trainable) > 0
    assert all(p.grad is None for p in fixed), "a fixed part received a gradient"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    # compute is recorded for every family: a positive multiply-add count of one example
    assert C.macs_per_example(model, data.input_shape) > 0


def test_groups_a_model_does_not_read_are_pruned_from_signature_and_record():
    dense_wht = prune(composed("model=dense_mlp", "transform=wht", "activation=bislope"))
    dense_dct = prune(composed("model=dense_mlp", "transform=dct", "activation=glu", "adapter=lora"))
    assert "transform" not in dense_wht and "activation" not in dense_wht and "adapter" not in dense_wht
    assert signature(dense_wht) == signature(dense_dct)  # the same network: one record
    fields = record_fields(dense_dct)
    assert fields["transform"] is None and fields["activation"] is None and fields["adapter"] is None
    layer = record_fields(prune(composed("model=frozen_layer")))
    assert layer["transform"] is None and layer["activation"] == "bislope"  # it reads activation only
    frozen = prune(composed("model=frozen_mlp", "transform=dct"))
    assert record_fields(frozen)["transform"] == "dct" and set(reads(frozen["model"])) <= set(frozen)
    # an adapter's rank means nothing without the adapter
    assert signature(prune(composed("model=frozen_mlp", "adapter.rank=8"))) == signature(prune(composed("model=frozen_mlp")))


def test_function_net_reads_the_transform_only_for_frozen_mixing():
    assert "transform" not in prune(composed("model=function_net", "dataset=functions"))
    assert "transform" in prune(composed("model=function_net", "dataset=functions", "model.mixing=dct"))


BUDGETS = (1000, 2000, 5000, 8000, 20000, 100000)
# which budgets each family can reach on 28x28x1 and 32x32x3 images (the smallest MLPs on 784 or
# 3072 inputs are above the small budgets; a linear classifier cannot grow past its inputs)
REACHES = {
    ("fmnist", "frozen_cnn"): BUDGETS, ("fmnist", "trained_cnn"): BUDGETS, ("fmnist", "separable_cnn"): BUDGETS,
    ("fmnist", "dense_mlp"): BUDGETS[2:], ("fmnist", "linear"): (2000, 5000, 8000), ("fmnist", "frozen_mlp"): BUDGETS[3:],
    ("cifar", "frozen_cnn"): BUDGETS, ("cifar", "trained_cnn"): BUDGETS, ("cifar", "separable_cnn"): BUDGETS,
    ("cifar", "dense_mlp"): BUDGETS[4:], ("cifar", "linear"): (2000, 8000, 20000), ("cifar", "frozen_mlp"): BUDGETS[5:],
}
IMAGES = {"fmnist": (1, 28, 28), "cifar": (3, 32, 32)}


@pytest.mark.parametrize("shape,family", sorted(REACHES))
def test_budget_sizes_every_family_into_the_window(shape, family):
    data = DataBundle(shape, torch.zeros(1, *IMAGES[shape]), torch.zeros(1, dtype=torch.long),
                      *[torch.zeros(0)] * 4, num_classes=10)
    cfg = prune(composed(f"+family={ {'dense_mlp': 'dense_mlp2'}.get(family, family) }"))
    for b in BUDGETS:
        cfg["model"]["budget"] = b
        if b in REACHES[(shape, family)]:
            model = build_model(cfg, data)
            assert 0.9 * b <= M.trainable_params(model) <= b, (family, b)
            assert model.built  # the shape chosen, for the record
        else:
            with pytest.raises(UserError, match="cannot be sized to model.budget"):
                build_model(cfg, data)


@pytest.mark.parametrize("adapter", ["conv1x1", "lora"])
@pytest.mark.parametrize("widths", ["[16,40]", "[16,32,64]", "[24,24]"])
def test_budget_keeps_every_stage_as_wide_as_the_adapter_rank(adapter, widths):
    """The design search's adapter designs: sizing used to probe width 1 first, which a rank-8
    adapter refuses, so every such design failed to build at 8k (10 of 24 frozen trials)."""
    data = DataBundle("fmnist", torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long),
                      *[torch.zeros(0)] * 4, num_classes=10)
    for b in (8000, 20000):
        for k in (3, 5):
            cfg = prune(composed("+family=frozen_cnn", f"adapter={adapter}", "adapter.rank=8", f"model.widths={widths}",
                                 f"model.kernel_size={k}", f"model.budget={b}"))
            model = build_model(cfg, data)
            assert 0.9 * b <= M.trainable_params(model) <= b, (adapter, widths, b, k)
            assert min(int(w) for w in model.built.split("widths=[")[1].split("]")[0].split(",")) >= 8


def test_budget_sizing_leaves_the_random_stream_alone():
    """Sizing builds candidate models; the model it returns must be initialised exactly as a plain
    build of the chosen shape would be (so a budget run equals the same run at that width)."""
    data = bundle("flat")
    cfg = prune(composed("+family=dense_mlp1", "model.budget=5000"))
    torch.manual_seed(0)
    sized = build_model(cfg, data)
    after_sized = torch.rand(1)
    width = int(sized.built.split("width=")[1])
    torch.manual_seed(0)
    plain = build_model({**cfg, "model": {**cfg["model"], "budget": None, "width": width}}, data)
    assert torch.equal(after_sized, torch.rand(1))
    assert all(torch.equal(a, b) for a, b in zip(sized.state_dict().values(), plain.state_dict().values()))


@pytest.mark.parametrize("family", ["frozen_audio", "audio_cnn", "frozen_cnn", "trained_cnn"])
@pytest.mark.parametrize("shape", [(40, 51), (241, 51)])  # log-mel / MFCC rows, and the n_fft 480 spectrum
def test_budget_sizes_the_audio_families_into_the_window(family, shape):
    """The audio models, and the image CNN families reading the (F, T) map as a 1-channel image."""
    data = DataBundle("audio", torch.zeros(2, *shape), torch.zeros(2, dtype=torch.long), *[torch.zeros(0)] * 4,
                      num_classes=12)
    cfg = prune(composed(f"+family={family}", "dataset=speech_commands_test12"))
    for b in (8000, 20000):
        cfg["model"]["budget"] = b
        model = build_model(cfg, data)
        assert 0.9 * b <= M.trainable_params(model) <= b, (family, shape, b)
        assert model.built and model(data.x_train).shape == (2, 12)
    cfg["model"]["budget"] = 10  # below the smallest model (12 head biases alone): one clear error
    with pytest.raises(UserError, match="cannot be sized to model.budget=10 "):
        build_model(cfg, data)


@pytest.mark.parametrize("family", ["frozen_transformer", "transformer"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (40, 51)])
def test_budget_sizes_both_transformers_into_the_window(family, shape):
    """The frozen FNet-style transformer and its trained peer, on image patches and (F, T) frames."""
    classes = 12 if len(shape) == 2 else 10
    data = DataBundle("x", torch.zeros(2, *shape), torch.zeros(2, dtype=torch.long), *[torch.zeros(0)] * 4,
                      num_classes=classes)
    cfg = prune(composed(f"+family={family}"))
    for b in (8000, 20000):
        cfg["model"]["budget"] = b
        torch.manual_seed(0)
        model = build_model(cfg, data)
        assert 0.9 * b <= M.trainable_params(model) <= b, (family, shape, b, M.trainable_params(model))
        assert model.built == f"dim={model.dim} mlp={model.hidden}"
        assert model(data.x_train).shape == (2, data.num_classes)
    cfg["model"]["budget"] = 10
    with pytest.raises(UserError, match="cannot be sized to model.budget=10 "):
        build_model(cfg, data)
