import pytest
import torch

from frozen_bench.train import measure as M
from frozen_bench.data import DataBundle
from frozen_bench.models import build_model
from frozen_bench.nn.filters import filter_bank, make_filter_bank
from frozen_bench.train import train
from tests.data_fixtures import write_cifar10, write_speech


def _cfg(model: dict, dataset: dict, epochs=4, transform="wht", adapter=None, lr=0.003):
    return {"seed": 0, "model": model, "dataset": dataset, "transform": {"name": transform, "seed": 0},
            "activation": {"name": "bislope"}, "adapter": adapter or {"name": "none"},
            "optim": {"name": "adamw", "lr": lr, "grad_clip": 1.0},
            "trainer": {"epochs": epochs, "batch_size": 32, "device": "cpu", "latency_reps": 2}}


@pytest.mark.parametrize("name,k", [("dct", 3), ("hadamard", 4), ("random_orth", 3)])
def test_filter_banks_are_orthonormal_and_fixed(name, k):
    b = filter_bank(name, k).flatten(1).double()
    assert torch.allclose(b @ b.T, torch.eye(k * k, dtype=torch.float64), atol=1e-5)
    fb = make_filter_bank(name, k)
    assert list(fb.parameters()) == [] and fb.state_dict() == {}  # a regenerable buffer, never saved
    x = torch.randn(2, 3, 8, 8)
    assert fb(x).shape == (2, 3 * k * k, 8, 8)


def test_dct_bank_first_filter_is_the_mean_and_hadamard_needs_power_of_two():
    b = filter_bank("dct", 3)
    assert torch.allclose(b[0], torch.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="power-of-two"):
        make_filter_bank("hadamard", 3)


def test_frozen_cnn_counts_trainable_and_fixed_honestly():
    data = DataBundle("x", torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.long), *[torch.zeros(0)] * 4, num_classes=10)
    # the un-fused layout (model.fused=false): the bank and the channel matrices are held apart
    cfg = _cfg({"name": "frozen_cnn", "widths": [16, 32], "filters": "random_orth", "fused": False}, {},
               transform="random_orth", adapter={"name": "lora", "rank": 4})
    model = build_model(cfg, data)
    trainable = M.trainable_params(model)
    # per stage: BN 2w + bislope 3w + LoRA 2·w·r; head (32·8·8)·10 + 10
    expect = sum(5 * w + 2 * w * 4 for w in (16, 32)) + 32 * 8 * 8 * 10 + 10
    assert trainable == expect
    # fixed numbers held: two 9×3×3 filter banks + the random_orth channel matrices over 3·9=27 and 16·9=144 channels
    assert M.total_params(model) == trainable + 2 * 81 + 27 * 27 + 144 * 144
    assert M.frozen_bytes(model) == 4 * 8  # four seeds, nothing else to store
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_frozen_cnn_learns_on_cifar_fixture(tmp_path):
    write_cifar10(tmp_path, per_batch=60, n_test=100)
    cfg = _cfg({"name": "frozen_cnn", "widths": [8, 16], "global_pool": False},
               {"name": "cifar10", "root": str(tmp_path), "download": False}, epochs=5,
               adapter={"name": "lora", "rank": 4})
    out = train(cfg, log=lambda *_: None)
    h = out["history"]
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    assert out["metrics"]["test_accuracy"] > 0.5  # chance is 0.1
    assert out["metrics"]["trainable_params"] < out["metrics"]["total_params"]


def test_cnn_baseline_has_notebook_shapes_and_learns(tmp_path):
    mn = DataBundle("x", torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), *[torch.zeros(0)] * 4, num_classes=10)
    m = build_model(_cfg({"name": "cnn"}, {}), mn)
    assert (m.conv1.out_channels, m.conv2.out_channels, m.fc1.in_features, m.fc1.out_features) == (5, 10, 160, 50)
    write_cifar10(tmp_path, per_batch=60, n_test=100)
    cfg = _cfg({"name": "cnn"}, {"name": "cifar10", "root": str(tmp_path), "download": False}, epochs=5, lr=0.001)
    out = train(cfg, log=lambda *_: None)
    c = out["model"]
    assert (c.conv1.out_channels, c.conv2.out_channels, c.fc1.in_features, c.fc1.out_features) == (20, 50, 1250, 700)
    assert out["history"][-1]["train_loss"] < 0.5 * out["history"][0]["train_loss"]
    assert out["metrics"]["test_accuracy"] > 0.5


@pytest.mark.parametrize("model,epochs", [({"name": "frozen_audio", "depth": 2}, 8),
                                          ({"name": "audio_cnn", "channels": [8, 16, 16]}, 8)])
def test_speech_models_learn_on_tone_fixture(tmp_path, model, epochs):
    write_speech(tmp_path / "SpeechCommands" / "speech_commands_v0.02", per_word=18)
    ds = {"name": "speech_commands", "root": str(tmp_path), "download": False, "classes": 35,
          "frontend": "fft", "n_fft": 256, "hop_length": 320}
    out = train(_cfg(model, ds, epochs=epochs, lr=0.003), log=lambda *_: None)
    h = out["history"]
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    assert out["metrics"]["test_accuracy"] >= 0.75  # 4 classes: chance 0.25
    assert out["data"].x_train.shape[1:] == (129, 51)


def test_model_input_shape_errors_name_the_fix():
    flat = DataBundle("digits", torch.zeros(4, 64), torch.zeros(4, dtype=torch.long), *[torch.zeros(0)] * 4, num_classes=10)
    for name, hint in (("frozen_cnn", "frozen_mlp"), ("cnn", "dense_mlp"), ("frozen_audio", "speech_commands")):
        with pytest.raises(ValueError, match=hint):
            build_model(_cfg({"name": name}, {}), flat)


@pytest.mark.parametrize("transform", ["dct", "wht", "random_orth"])
def test_frozen_cnn_fused_is_the_same_map_with_no_trainable_fixed_part(transform):
    # model.fused=true folds filter bank + channel mixing into one fixed conv kernel: the same
    # features, the same trainable count, and the kernel is a buffer counted as fixed.
    from frozen_bench.models.frozen_cnn import FrozenCNN, FusedFilterMix
    torch.manual_seed(0)
    a = FrozenCNN((1, 12, 12), 3, widths=[8, 12], transform=transform)
    b = FrozenCNN((1, 12, 12), 3, widths=[8, 12], transform=transform, fused=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 1, 12, 12)
    assert torch.allclose(a.features(x), b.features(x), atol=1e-5)
    assert M.trainable_params(a) == M.trainable_params(b)
    fused = [m for m in b.modules() if isinstance(m, FusedFilterMix)]
    assert len(fused) == 2 and all(sum(p.numel() for p in m.parameters()) == 0 for m in fused)
    assert M.total_params(b) - M.trainable_params(b) == sum(m.kernel.numel() for m in fused)


def test_linear_on_a_logmel_map_pools_frequency_and_time_to_fit_its_budget():
    # the real speech split's (40, 51) log-mel map holds 2,040 features: 24,492 weights for 12 classes,
    # above 20k; the budget pools both axes to at most side x side
    data = DataBundle("speech", torch.zeros(4, 40, 51), torch.zeros(4, dtype=torch.long), *[torch.zeros(0)] * 4,
                      num_classes=12)
    m = build_model({**_cfg({"name": "linear", "budget": 20000}, {}), "activation": None, "adapter": None}, data)
    n = M.trainable_params(m)
    assert 18000 <= n <= 20000 and m.side is not None and m.side < 51
    fe, ti = min(m.side, 40), min(m.side, 51)
    assert n == fe * ti * 12 + 12
    x = torch.randn(3, 40, 51)
    # pooling is the mean over each cell: the map at side x side equals torch's own adaptive pool
    ref = torch.nn.functional.adaptive_avg_pool2d(x.unsqueeze(1), (fe, ti)).flatten(1) @ m.fc.weight.T + m.fc.bias
    assert torch.allclose(m(x), ref, atol=1e-5)
    unpooled = build_model({**_cfg({"name": "linear"}, {}), "activation": None, "adapter": None}, data)
    assert M.trainable_params(unpooled) == 40 * 51 * 12 + 12 and unpooled.pool is None
