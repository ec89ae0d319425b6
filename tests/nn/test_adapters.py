import pytest
import torch

from frozen_bench.nn.adapters import ADAPTERS, make_adapter


@pytest.mark.parametrize("name", ADAPTERS)
@pytest.mark.parametrize("shape", [(4, 16), (4, 16, 5, 5)])
def test_output_unchanged_at_init(name, shape):
    ad = make_adapter(name, 16, rank=4 if name != "none" else 0)
    x = torch.randn(*shape)
    torch.testing.assert_close(ad(x), x)


@pytest.mark.parametrize("name", ["lora", "bottleneck", "conv1x1"])
def test_adapter_trains_away_from_identity(name):
    torch.manual_seed(0)
    ad = make_adapter(name, 8, rank=2)
    x = torch.randn(16, 8)
    opt = torch.optim.SGD(ad.parameters(), lr=0.1)
    for _ in range(5):
        loss = (ad(x) - 2 * x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.allclose(ad(x), x)


def test_lora_is_rank_r():
    ad = make_adapter("lora", 16, rank=3)
    assert ad.U.shape == (16, 3) and ad.V.shape == (3, 16)


def test_rank_zero_is_no_adapter():
    ad = make_adapter("lora", 16, rank=0)
    assert sum(p.numel() for p in ad.parameters()) == 0


@pytest.mark.parametrize("rank,msg", [(-1, "must be >= 0"), (17, "larger than the width 16")])
def test_bad_rank_is_a_clear_error(rank, msg):
    with pytest.raises(ValueError, match=msg):
        make_adapter("lora", 16, rank=rank)
