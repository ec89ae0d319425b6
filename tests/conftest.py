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
