"""model.permute=learned: a learned channel permutation before each frozen block, exactly a
permutation at evaluation, its sort keys counted as trainable."""

import pytest
import torch

from frozen_bench.models.frozen_mlp import FixedPermutation, FrozenMLP, LearnedPermutation, build
from frozen_bench.train import measure as M
from tests.models.test_models_table import bundle, composed
from frozen_bench.models import prune


def test_the_evaluated_map_is_an_exact_permutation():
    p = LearnedPermutation(64, seed=3)
    with torch.no_grad():
        p.keys.add_(torch.randn(64) * 5)  # far from the start: a different permutation
    p.eval()
    eye = torch.eye(64)
    out = p(eye)  # (64 in, 64 out): the map's matrix
    assert set(out.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(out.sum(0), torch.ones(64)) and torch.equal(out.sum(1), torch.ones(64))
    perm = p.permutation()
    assert torch.equal(torch.sort(perm).values, torch.arange(64))
    x = torch.randn(5, 64)
    assert torch.equal(p(x), x[:, perm])  # bit for bit: an index, no arithmetic


def test_training_forward_is_the_hard_permutation_with_a_soft_gradient():
    p = LearnedPermutation(16, seed=0).train()
    x = torch.randn(4, 16)
    y = p(x)
    assert torch.equal(y, x[:, p.permutation()])  # the forward pass is exact in training too
    (y * torch.randn_like(y)).sum().backward()
    assert p.keys.grad is not None and p.keys.grad.abs().sum() > 0


def test_it_starts_as_the_fixed_permutation_and_counts_its_keys():
    fixed, learned = (FrozenMLP(64, 10, depth=2, permute=v) for v in (True, "learned"))
    for f, l in zip((m for m in fixed.blocks if isinstance(m, FixedPermutation)),
                    (m for m in learned.blocks if isinstance(m, LearnedPermutation))):
        assert torch.equal(f.perm, l.permutation())
    assert M.trainable_params(learned) == M.trainable_params(fixed) + 2 * 64
    assert learned.record_metrics() == {"permute_moved": 0.0} and fixed.record_metrics() == {}


def test_config_values():
    data = bundle("flat")
    model = build(prune(composed("model=frozen_mlp", "model.permute=learned", "+model.permute_tau=0.5")), data)
    assert [m.tau for m in model.blocks if isinstance(m, LearnedPermutation)] == [0.5, 0.5]
    with pytest.raises(ValueError, match="model.permute must be"):
        build(prune(composed("model=frozen_mlp", "model.permute=sometimes")), data)
    sized = build(prune(composed("model=frozen_mlp", "model.permute=learned", "model.budget=2000")), data)
    assert 1800 <= M.trainable_params(sized) <= 2000  # the keys count against the budget
