"""``derived``: a cached value is rebuilt when its inputs change, and never carries a graph."""

from __future__ import annotations

import copy

import torch
from torch import nn

from frozen_bench.nn.derived import derived


def _scaled(m: nn.Linear, like: torch.Tensor) -> torch.Tensor:
    return derived(m, "scaled", (m.weight,), like, lambda: (m.weight * 2).to(like.dtype))


def test_a_value_built_with_gradients_on_has_no_graph_and_the_module_still_copies():
    m = nn.Linear(3, 2)
    for mode in (torch.enable_grad, torch.inference_mode):  # training's evaluation, then inference
        m._scaled_key = None
        with mode():
            v = _scaled(m, torch.zeros(1, dtype=torch.float64))
        assert v.grad_fn is None and not v.requires_grad
        copy.deepcopy(m)  # raised on a cached value with a graph (the multiply-add counter copies the model)


def test_a_value_is_rebuilt_when_its_tensor_changes():
    m = nn.Linear(3, 2)
    like = torch.zeros(1)
    first = _scaled(m, like)
    assert _scaled(m, like) is first
    with torch.no_grad():
        m.weight.add_(1.0)
    assert torch.equal(_scaled(m, like), m.weight.detach() * 2)
