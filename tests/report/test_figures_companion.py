"""The companion figures, drawn from real (tiny) runs of each companion sweep's first job."""

import os
import sys

import pytest

from frozen_bench.cli import main
from frozen_bench.report.figures import COMPANION, make_all

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TINY = ["+profile=quick", "trainer.latency_reps=2", "seed=0"]
JOBS = {
    "functions": ["dataset.function=exp", "fnvariant=relu_dense", "trainer.epochs=3"],
    "fn_shift": ["shift.pair=exp", "fnvariant=relu_dense", "trainer.epochs=3"],
    "masks": ["model.reg_weight=0.00001", "trainer.epochs=1", "dataset.subset=300"],
    "frozen_layer": ["trainer.epochs=1"],
    "weightnet": ["model.feedback=projection", "trainer.epochs=1", "dataset.subset=300"],
    "act_delta": ["+optim.act_delta_l1=0.01", "trainer.epochs=2"],
}


def test_each_companion_figure_is_drawn_from_its_sweep_rows(tmp_path, monkeypatch):
    if not os.path.exists(FMNIST):
        pytest.skip("real Fashion-MNIST absent (apt-get install dataset-fashion-mnist): weightnet needs it")
    res = tmp_path / "results"
    for sweep, extra in JOBS.items():
        args = ["run", *TINY[:1], f"+sweep={sweep}", *TINY[1:], *extra, f"results_dir={res}"]
        monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
        assert main(args) == 0, sweep
    written, skipped = make_all(res / "all.csv", tmp_path / "figs", log=lambda *_: None)
    names = {p.name for p in written}
    for fig in COMPANION:
        assert f"{fig}.png" in names and f"{fig}.pdf" in names, (fig, skipped)
