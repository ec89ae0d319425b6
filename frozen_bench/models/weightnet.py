"""``model=weightnet``: feed the network's own fc weights back in as extra input features.

The weight-feedback notebook's MNIST CNN — conv(5, 5×5) → maxpool → conv(10, 5×5) → maxpool →
fc1(·, hidden) → fc2(hidden, classes), ReLU — with a ``feedback_dim``-vector made from
M = [fc1.weight | fc2.weight.T] (hidden × (fc1_in + classes)) concatenated to the conv features
before fc1 (the same vector for every sample of the batch). fc1 also sees its own weights.

- ``feedback=none``: no feedback; fc1 has no extra inputs — the notebook's plain CNN baseline.
- ``feedback=maxpool``: M adaptively max-pooled to an r×c grid with r·c = feedback_dim (the
  notebook's hand-picked kernels, generalized to any size).
- ``feedback=projection``: a fixed random projection of vec(M). The notebook's dense
  Xavier matrix needs n×k floats: (1250+460+10)·500 × 460 ≈ 396M floats ≈ 1.6 GB for its CIFAR net.
  We use a subsampled randomized Hadamard transform instead, P = sqrt(N/k) · S · H · D with D
  random ±1 signs, H the orthonormal WHT (``frozen_bench.nn.fast.wht``, computed, not stored),
  S a random choice of k of the N = next_pow2(n) rows: O(n) memory (N signs + k indices,
  regenerated from ``projection_seed``), O(n log n) time, norm-preserving in expectation.

``feedback_grad=false`` (default) feeds ``W.detach()``, reproducing the notebook's ``.data``: the
weights act as an input signal but no gradient flows through the feedback path into them.
``feedback_grad=true`` lets the loss also shape the weights through what they feed back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.nn import fast

FEEDBACKS = ("none", "maxpool", "projection")


class SRHTProjection(nn.Module):
    """Fixed k×n projection x ↦ sqrt(N/k)·(H·(D·pad(x)))[idx]; rows orthogonal, O(n) memory."""

    def __init__(self, n: int, k: int, seed: int = 0):
        super().__init__()
        self.n, self.k, self.N = n, k, fast.next_power_of_two(n)
        if k > self.N:
            raise ValueError(f"model.feedback_dim={k} exceeds the projected size {self.N}; use a smaller feedback_dim")
        g = torch.Generator().manual_seed(seed)
        signs = torch.randint(0, 2, (self.N,), generator=g).float() * 2 - 1
        idx = torch.randperm(self.N, generator=g)[:k]
        self.register_buffer("signs", signs, persistent=False)
        self.register_buffer("idx", idx, persistent=False)
        self.scale = math.sqrt(self.N / k)

    def forward(self, v: torch.Tensor) -> torch.Tensor:  # (n,) -> (k,)
        v = F.pad(v, (0, self.N - self.n)) * self.signs
        return fast.wht(v)[self.idx] * self.scale

    def frozen_bytes(self) -> int:
        return 8  # regenerated from its seed

    def fixed_numel(self) -> int:
        return self.N + self.k


def pool_grid(k: int) -> tuple[int, int]:
    """r×c with r·c = k, r the largest divisor of k not above sqrt(k)."""
    r = max(d for d in range(1, int(math.isqrt(k)) + 1) if k % d == 0)
    return r, k // r


class WeightNet(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], num_classes: int, channels=(5, 10), kernel: int = 5,
                 hidden: int = 50, feedback: str = "none", feedback_dim: int = 26, feedback_grad: bool = False,
                 projection_seed: int = 0):
        super().__init__()
        if feedback not in FEEDBACKS:
            raise ValueError(f"unknown model.feedback {feedback!r}; choose one of {', '.join(FEEDBACKS)}")
        if len(in_shape) != 3:
            raise ValueError(f"model=weightnet needs image inputs (C, H, W); got shape {in_shape}: use dataset=mnist or fashion_mnist")
        c1, c2 = (int(c) for c in channels)
        self.conv1 = nn.Conv2d(in_shape[0], c1, kernel)
        self.conv2 = nn.Conv2d(c1, c2, kernel)
        with torch.no_grad():
            try:
                feat = self.trunk(torch.zeros(1, *in_shape)).shape[1]
            except RuntimeError:
                raise ValueError(f"model=weightnet: images of {in_shape[1]}x{in_shape[2]} are too small for two "
                                 f"{kernel}x{kernel} conv + 2x2 pool stages; use 28x28 data or a smaller model.kernel") from None
        self.feedback, self.feedback_grad = feedback, bool(feedback_grad)
        self.feedback_dim = int(feedback_dim) if feedback != "none" else 0
        self.fc1 = nn.Linear(feat + self.feedback_dim, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        n = hidden * (feat + self.feedback_dim + num_classes)  # numel of M
        self.project = SRHTProjection(n, self.feedback_dim, projection_seed) if feedback == "projection" else None
        if feedback == "maxpool":
            r, c = pool_grid(self.feedback_dim)
            if r > hidden or c > feat + self.feedback_dim + num_classes:
                raise ValueError(f"model.feedback_dim={self.feedback_dim} needs a {r}x{c} pool grid larger than the weights")
            self.grid = (r, c)

    def trunk(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return x.flatten(1)  # (B, feat)

    def feedback_vector(self) -> torch.Tensor:
        """(feedback_dim,) summary of [fc1.weight | fc2.weight.T]."""
        m = torch.cat([self.fc1.weight, self.fc2.weight.t()], dim=1)  # (hidden, fc1_in + classes)
        if not self.feedback_grad:
            m = m.detach()  # the notebook's .data: an input signal, not a gradient path
        if self.feedback == "maxpool":
            return F.adaptive_max_pool2d(m[None], self.grid).flatten()
        return self.project(m.flatten())

    def forward(self, x):
        h = self.trunk(x)  # (B, feat)
        if self.feedback != "none":
            h = torch.cat([h, self.feedback_vector().expand(h.shape[0], -1)], dim=1)  # (B, feat + k)
        return self.fc2(F.relu(self.fc1(h)))

    def record_metrics(self) -> dict:
        return {"feedback": self.feedback, "feedback_dim": self.feedback_dim, "feedback_grad": self.feedback_grad,
                "feedback_projection_floats": self.project.fixed_numel() if self.project is not None else 0,
                "feedback_dense_projection_floats": self.project.n * self.project.k if self.project is not None else 0}


def build(cfg: dict, data) -> WeightNet:
    m = cfg["model"]
    return WeightNet(tuple(data.input_shape), max(data.num_classes, 1), channels=tuple(m.get("channels", (5, 10))),
                     kernel=int(m.get("kernel", 5)), hidden=int(m.get("hidden", 50)), feedback=str(m.get("feedback", "none")),
                     feedback_dim=int(m.get("feedback_dim", 26)), feedback_grad=bool(m.get("feedback_grad", False)),
                     projection_seed=int(m.get("projection_seed", 0)))
