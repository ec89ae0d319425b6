"""The small fully trained CNN baselines of the weight-feedback notebook (seed 002):
conv5×5 → ReLU → maxpool2 → conv5×5 → ReLU → maxpool2 → fc → ReLU → fc.

``channels``/``hidden`` null pick the notebook's sizes from the input: 1 channel (MNIST-like)
→ conv 5→10, fc 50; 3 channels (CIFAR-like) → conv 20→50, fc 700.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


_NOTEBOOK = {1: ((5, 10), 50), 3: ((20, 50), 700)}


class SmallCNN(nn.Module):
    def __init__(self, input_shape, num_classes, channels=None, hidden=None, dropout=0.0):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"model=cnn needs image inputs (C, H, W), got shape {tuple(input_shape)}; "
                             f"use model=dense_mlp for flat inputs")
        c_in = input_shape[0]
        default_ch, default_hidden = _NOTEBOOK.get(c_in, _NOTEBOOK[3])
        c1, c2 = channels or default_ch
        hidden = int(hidden or default_hidden)
        self.conv1 = nn.Conv2d(c_in, int(c1), 5, 1)
        self.conv2 = nn.Conv2d(int(c1), int(c2), 5, 1)
        with torch.no_grad():
            flat = self._convs(torch.zeros(1, *input_shape)).shape[1]  # 4·4·10 on MNIST, 5·5·50 on CIFAR
        self.fc1 = nn.Linear(flat, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def _convs(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return x.flatten(1)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(self._convs(x)))))


def build(cfg: dict, data) -> SmallCNN:
    m = cfg["model"]
    ch = m.get("channels")
    return SmallCNN(data.input_shape, max(data.num_classes, 1), channels=list(ch) if ch else None,
                    hidden=m.get("hidden"), dropout=float(m.get("dropout", 0.0)))
