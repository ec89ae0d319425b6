from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from frozen_bench.data.augment import flip_crop, make_augment

CONF = Path(__file__).resolve().parents[2] / "conf" / "augment"


def _reference(x, seed, padding, mode):
    """torchvision-style per-sample loop on a padded copy: the batched gather must equal it."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randint(0, 2 * padding + 1, (2, len(x)), generator=g)
    flips = torch.rand(len(x), generator=g) < 0.5
    p = F.pad(x.float(), (padding,) * 4, mode={"reflect": "reflect", "zeros": "constant", "edge": "replicate"}[mode])
    h, w = x.shape[2:]
    out = torch.stack([p[i, :, d[0, i]:d[0, i] + h, d[1, i]:d[1, i] + w] for i in range(len(x))])
    return torch.where(flips.view(-1, 1, 1, 1), out.flip(3), out)


@pytest.mark.parametrize("mode", ["reflect", "zeros", "edge"])
def test_flip_crop_equals_the_per_sample_reference(mode):
    x = torch.randn(64, 3, 12, 10)
    out = flip_crop(x, torch.Generator().manual_seed(5), padding=4, pad_mode=mode)
    assert out.shape == x.shape and torch.equal(out, _reference(x, 5, 4, mode))


def test_uint8_batches_stay_uint8_and_match_the_float_path():
    x = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    out = flip_crop(x, torch.Generator().manual_seed(1), padding=2, pad_mode="zeros")
    assert out.dtype == torch.uint8
    assert torch.equal(out.float(), flip_crop(x.float(), torch.Generator().manual_seed(1), padding=2, pad_mode="zeros"))


def test_deterministic_per_seed_and_varied_across_samples_and_seeds():
    x = torch.randn(256, 3, 32, 32)
    a = flip_crop(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, flip_crop(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, flip_crop(x, torch.Generator().manual_seed(1)))
    changed = (a != x).flatten(1).any(1).float().mean().item()
    assert changed > 0.9  # P(no flip and zero shift) = 1/2 * 1/81
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(flip_crop(x, g), flip_crop(x, g))  # the stream moves on between batches


def test_flip_only_and_none():
    x = torch.randn(100, 1, 5, 7)
    out = flip_crop(x, torch.Generator().manual_seed(2), padding=0)
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(3)).flatten(1).all(1)
    assert bool((same | flipped).all()) and 20 < int(flipped.sum()) < 80
    assert make_augment(None) is None and make_augment({"name": "none"}) is None


def test_config_group_files_drive_make_augment():
    names = sorted(p.stem for p in CONF.glob("*.yaml"))
    assert {"none", "flip_crop"} <= set(names)
    for n in names:
        cfg = OmegaConf.to_container(OmegaConf.load(CONF / f"{n}.yaml"))
        assert cfg["name"] == n
    fn = make_augment(OmegaConf.to_container(OmegaConf.load(CONF / "flip_crop.yaml")))
    x = torch.randn(16, 3, 32, 32)
    assert torch.equal(fn(x, torch.Generator().manual_seed(3)), flip_crop(x, torch.Generator().manual_seed(3)))


def test_clear_errors():
    with pytest.raises(ValueError, match="augment=none"):
        flip_crop(torch.randn(4, 40, 51), torch.Generator())  # speech features are not images
    with pytest.raises(ValueError, match="unknown"):
        make_augment({"name": "mixup"})
    with pytest.raises(ValueError, match="pad_mode"):
        make_augment({"name": "flip_crop", "pad_mode": "wrap"})
