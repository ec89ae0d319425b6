"""frozen_transformer (FNet-style, fixed mixing) and its trained peer transformer: tokens, the
fixed parts, budget sizing on image and speech shapes, and that both learn on small fixtures."""

from __future__ import annotations

import pytest
import torch

from frozen_bench.models import prune
from frozen_bench.data import DataBundle
from frozen_bench.models import build_model
from frozen_bench.models.transformer import FixedProjection, FrozenTransformer, Transformer, to_tokens
from frozen_bench.train import measure as M
from frozen_bench.train import train
from tests.data_fixtures import write_cifar10, write_speech
from tests.models.test_models_table import composed


def _data(shape, classes=10, n=2):
    return DataBundle("x", torch.zeros(n, *shape), torch.zeros(n, dtype=torch.long), *[torch.zeros(0)] * 4,
                      num_classes=classes)


def test_tokens_are_row_major_patches_and_frames():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    t = to_tokens(x, 4)  # (B, 4 patches, 3·4·4)
    assert t.shape == (2, 4, 48)
    assert torch.equal(t[1, 1], x[1, :, 0:4, 4:8].reshape(-1))  # second patch: top row, right half
    assert torch.equal(t[0, 2], x[0, :, 4:8, 0:4].reshape(-1))
    assert to_tokens(torch.zeros(1, 1, 28, 28), 6).shape == (1, 25, 36)  # padded to 30 x 30
    s = torch.randn(2, 40, 51)
    assert torch.equal(to_tokens(s, 4), s.transpose(1, 2))  # (F, T): T tokens of F values


@pytest.mark.parametrize("transform", ["fft", "wht", "dct", "random_orth", "identity"])
@pytest.mark.parametrize("mixer", ["transform", "random_attention"])
def test_frozen_transformer_trains_only_norms_pacts_adapters_gates_and_head(transform, mixer):
    torch.manual_seed(0)
    m = FrozenTransformer((1, 28, 28), 10, patch=7, dim=48, depth=2, transform=transform, mixer=mixer,
                          embed="transform", adapter="lora", rank=2)
    m(torch.randn(3, 1, 28, 28)).pow(2).mean().backward()
    assert {n.split(".")[0] for n, _ in m.named_parameters()} == {"blocks", "norm", "head"}
    assert all(p.grad is not None for p in m.parameters())
    assert m.state_dict().keys() == {n for n, _ in m.named_parameters()}  # fixed maps are regenerated, not saved
    d, h, k = m.dim, m.hidden, 10
    per_block = 2 * 2 * d + 3 * h + 2 * 2 * h + (4 if mixer == "random_attention" else 0)  # LN, bislope, LoRA, gates
    assert M.trainable_params(m) == 2 * per_block + 2 * d + d * k + k
    assert m.dim == (64 if transform == "wht" else 48) and m.seq == 16  # 16 patches, a power of two


def test_fixed_projection_is_fixed_by_its_seed_and_keeps_the_scale():
    for n_in, n_out in ((49, 128), (300, 64), (64, 64)):
        a, b = FixedProjection(n_in, n_out, "wht", 3), FixedProjection(n_in, n_out, "wht", 3)
        x = torch.randn(4000, n_in)
        y = a(x)
        assert y.shape == (4000, n_out) and torch.equal(y, b(x)) and list(a.parameters()) == []
        assert 0.8 < y.pow(2).mean().item() < 1.25  # about the mean square of an input entry
    assert not torch.equal(FixedProjection(16, 32, "dct", 0)(x[:, :16]), FixedProjection(16, 32, "dct", 1)(x[:, :16]))


def test_trained_transformer_trains_everything():
    m = Transformer((40, 51), 12, dim=32, heads=4)
    assert M.trainable_params(m) == M.total_params(m) and M.frozen_bytes(m) == 0
    m(torch.randn(2, 40, 51)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    with pytest.raises(ValueError, match="multiple of model.heads"):
        Transformer((1, 28, 28), 10, dim=30, heads=4)


@pytest.mark.parametrize("over", [["transform=wht"], ["model.mixer=random_attention"], ["adapter=lora", "adapter.rank=4"]])
def test_budget_sizes_the_frozen_variants(over):
    cfg = prune(composed("+family=frozen_transformer", "model.budget=20000", *over))
    model = build_model(cfg, _data((1, 28, 28)))
    assert 18000 <= M.trainable_params(model) <= 20000
    if over == ["transform=wht"]:
        assert model.dim & (model.dim - 1) == 0  # a power of two


def _cfg(model: dict, dataset: dict, epochs: int, lr: float = 0.003):
    return {"seed": 0, "model": model, "dataset": dataset, "transform": {"name": "fft", "seed": 0},
            "activation": {"name": "bislope"}, "adapter": {"name": "none"},
            "optim": {"name": "adamw", "lr": lr, "grad_clip": 1.0},
            "trainer": {"epochs": epochs, "batch_size": 32, "device": "cpu", "latency_reps": 2}}


@pytest.mark.parametrize("name", ["frozen_transformer", "transformer"])
def test_transformers_learn_on_image_fixture(tmp_path, name):
    write_cifar10(tmp_path, per_batch=60, n_test=100)
    out = train(_cfg({"name": name, "patch": 8, "dim": 32, "depth": 1},
                     {"name": "cifar10", "root": str(tmp_path), "download": False}, epochs=6, lr=0.01), log=lambda *_: None)
    h = out["history"]
    assert h[-1]["train_loss"] < 0.7 * h[0]["train_loss"], [r["train_loss"] for r in h]
    assert out["metrics"]["test_accuracy"] > 0.3  # chance is 0.1


@pytest.mark.parametrize("name", ["frozen_transformer", "transformer"])
def test_transformers_learn_on_tone_fixture(tmp_path, name):
    write_speech(tmp_path / "SpeechCommands" / "speech_commands_v0.02", per_word=18)
    ds = {"name": "speech_commands", "root": str(tmp_path), "download": False, "classes": 35,
          "frontend": "fft", "n_fft": 256, "hop_length": 320}
    # the fixed embedding keeps only dim of the 129 spectrum rows: the frozen model needs them all
    out = train(_cfg({"name": name, "dim": 128 if name == "frozen_transformer" else 32, "depth": 1}, ds, epochs=8,
                     lr=0.01), log=lambda *_: None)
    h = out["history"]
    assert h[-1]["train_loss"] < 0.7 * h[0]["train_loss"], [r["train_loss"] for r in h]
    assert out["metrics"]["test_accuracy"] >= 0.75  # 4 classes: chance 0.25
    assert out["data"].x_train.shape[1:] == (129, 51)


def test_flat_inputs_name_the_fix():
    for name in ("frozen_transformer", "transformer"):
        with pytest.raises(ValueError, match="frozen_mlp for flat inputs"):
            build_model(prune(composed(f"model={name}")), _data((64,)))
