import json
import os

import pytest
import torch

# Tests share 2 cores with each other's subprocesses; keep torch from oversubscribing.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture
def fmnist_available():
    if not os.path.exists(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz")):
        pytest.skip("real Fashion-MNIST absent (apt-get install dataset-fashion-mnist)")
    return FMNIST_DIR


@pytest.fixture
def results(tmp_path):
    """A results folder with one finished (fake) record and an all.csv, to prove bad input
    overwrites nothing (compare ``snapshot`` before and after)."""
    from frozen_bench.record.table import collect

    rd = tmp_path / "results"
    run = rd / "runs" / "0123456789ab"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"signature": "0123456789ab", "status": "ok", "dataset": "digits",
                                                  "model": "frozen_mlp", "seed": 0, "test_accuracy": 0.5}))
    (run / "config.yaml").write_text("seed: 0\n")
    collect(rd, log=lambda *_: None)
    return rd
