"""sklearn's bundled 8×8 digits (1797 images, 10 classes): the offline default dataset."""

from __future__ import annotations

import torch

from frozen_bench.data import preprocess as P
from frozen_bench.data.bundle import DataBundle, split_train_val


def load_digits_bundle(cfg: dict) -> DataBundle:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    x = (x - 0.5) / 0.5  # pixels in [-1, 1]
    if cfg.get("image"):  # (N, 1, 8, 8) for the CNN families; MLPs flatten it back to the same 64 values
        x = x.view(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.long)
    # fixed split (independent of the run seed): 20% test, 10% of the rest validation
    g = torch.Generator().manual_seed(12345)
    perm = torch.randperm(len(x), generator=g)
    n_test = int(0.2 * len(x))
    te, tr = perm[:n_test], perm[n_test:]
    x_tr, y_tr, x_va, y_va = split_train_val(x[tr], y[tr], float(cfg.get("val_fraction", 0.1)), seed=1)
    # a user's image: 8x8 grayscale, pixel/255 standing for sklearn's value/16 (16 = ink, drawn white)
    spec = P.image("digits", x.shape[1:], 1, (8, 8), 0.5, 0.5, [str(i) for i in range(10)])
    return DataBundle("digits", x_tr, y_tr, x_va, y_va, x[te], y[te], num_classes=10,
                      info={"source": "sklearn.datasets.load_digits", "preprocess": spec})
