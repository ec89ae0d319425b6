"""The in-memory form every dataset is loaded into: tensors, batched by index in the train loop."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from frozen_bench.errors import DatasetError


@dataclass
class DataBundle:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int  # 0 for regression
    task: str = "classification"  # or "regression"
    synthetic: bool = False
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def subset(self, n: int | None, seed: int = 0) -> "DataBundle":
        """A copy keeping n training samples (a seeded random choice) for quick runs; val/test
        unchanged. The bundle itself is not modified (loaded bundles are shared, see load_dataset)."""
        if not n or n >= len(self.x_train):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.x_train), generator=g)[:n]
        return replace(self, x_train=self.x_train[idx], y_train=self.y_train[idx])

    def keep_classes(self, classes) -> "DataBundle":
        """A copy with only the samples of ``classes`` (train, val and test), relabelled 0..k-1 in
        the order given: a class-subset task (``+dataset.keep_classes=[7,8,9]``). None keeps all."""
        if classes is None:
            return self
        classes = [int(c) for c in classes]
        if self.task != "classification":
            raise DatasetError(f"dataset.keep_classes needs a classification dataset; {self.name} is {self.task}")
        if len(set(classes)) != len(classes) or len(classes) < 2 or not all(0 <= c < self.num_classes for c in classes):
            raise DatasetError(f"dataset.keep_classes={classes} must list at least 2 distinct classes in 0..{self.num_classes - 1}")
        table = torch.full((self.num_classes,), -1, dtype=torch.long)
        table[torch.tensor(classes)] = torch.arange(len(classes))

        def keep(x, y):
            new = table[y]
            mask = new >= 0
            return x[mask], new[mask]

        x_tr, y_tr = keep(self.x_train, self.y_train)
        x_va, y_va = keep(self.x_val, self.y_val)
        x_te, y_te = keep(self.x_test, self.y_test)
        info = {**self.info, "kept_classes": classes}
        if info.get("preprocess"):  # the saved model's class names (data.preprocess): the kept ones, in their new order
            names = info["preprocess"].get("classes") or []
            info["preprocess"] = {**info["preprocess"], "classes": [names[c] if c < len(names) else str(c) for c in classes]}
        return replace(self, x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te,
                       num_classes=len(classes), info=info)


def split_train_val(x: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int = 0):
    """Seeded split of a training set into train and validation parts."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_val = int(round(len(x) * val_fraction))
    va, tr = perm[:n_val], perm[n_val:]
    return x[tr], y[tr], x[va], y[va]
