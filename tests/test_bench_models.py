"""scripts/bench_models.py's step split: every part of a model is replayed on the input it got."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
bench_models = pytest.importorskip("bench_models")

from frozen_bench.models.frozen_cnn import FrozenCNN  # noqa: E402
from frozen_bench.models.frozen_mlp import FrozenMLP  # noqa: E402


@pytest.mark.parametrize("model,shape", [(FrozenMLP(64, 10, width=64), (64,)),
                                         (FrozenCNN((3, 8, 8), 10, widths=[8, 16], adapter="lora", rank=2), (3, 8, 8))])
def test_every_part_gets_its_input_in_the_training_step_split(model, shape):
    # the capture runs the model in training mode without a graph: no evaluation-only fast path
    # (the MLP's one-call block, the stage tail) may skip the modules whose inputs it hooks
    groups = bench_models.parts(model)
    inputs = bench_models.captured_inputs(model.train(), torch.randn(4, *shape), groups)
    assert sorted(inputs) == list(range(len(groups)))
    for i, (_, mods) in enumerate(groups):
        bench_models.replay(mods, inputs[i], needs_grad=i > 0)()  # forward + backward of the part alone


def test_the_conv_bench_runs_each_case_on_both_paths():
    from frozen_bench.nn import native

    if native.lib() is None:
        pytest.skip("no compiled kernels: the structured conv has no path to time")
    bench_bank_wht = pytest.importorskip("bench_bank_wht")
    conv = bench_bank_wht.stage_conv(4, 8)
    for first in (True, False):
        cases = bench_bank_wht.candidates(conv, 4, 6, first)
        assert [c for c, _, _ in cases][-1] == ("training b128: forward" if first else "training b128: fwd + input grad")
        for _, structured, dense in cases:
            structured(), dense()
