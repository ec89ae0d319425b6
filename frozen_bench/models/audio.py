"""Speech models over fixed front-end features (B, F, T) (F frequency rows, T frames).

``frozen_audio``: per block, a fixed transform over frequency (rows padded to the transform
size F') and, with ``mix_time=true``, one over time (T → T'), then per-frequency-row norm, PAct
and adapter (frequency rows are the channels). A trainable head reads the (B, F', T') map,
optionally average-pooled to ``pool=[f, t]`` first. Only norms, PActs, adapters, head train.

``audio_cnn``: the small fully trained baseline, three conv3×3-BN-ReLU-maxpool stages on the
feature map as a 1-channel image, an average over time (frequency position carries the
information, so it is kept) and a linear head on channels × frequency rows.

``model.budget`` sizes either (models/budget.py): ``frozen_audio`` by the side of the square map
its head reads (``pool=[s, s]``; with ``head=mlp``, by the head's hidden width), since the head
holds nearly all of its trainable parameters; ``audio_cnn`` by its channels, kept in the ratios of
``channels`` (the last stage's width is the knob).
"""

from __future__ import annotations

import torch
from torch import nn

from frozen_bench.models.budget import Layout, by_layouts, channel_layouts, sized
from frozen_bench.models.blocks import activation_args, adapter_args, make_head, num_classes, transform_args
from frozen_bench.nn.activations import make_activation
from frozen_bench.nn.adapters import make_adapter
from frozen_bench.nn.norms import make_norm
from frozen_bench.nn.transforms import make_transform


def _need_features(shape, model: str):
    if len(shape) != 2:
        raise ValueError(f"model={model} needs (F, T) feature inputs such as dataset=speech_commands, got shape {tuple(shape)}")


class FrozenAudioBlock(nn.Module):
    def __init__(self, n_freq, n_time, transform, seed, mix_time, activation, act_kwargs, adapter, rank, norm):
        super().__init__()
        self.mix_f = make_transform(transform, n_freq, seed=seed)
        self.mix_t = make_transform(transform, n_time, seed=seed + 1000) if mix_time else None
        self.out_freq = self.mix_f.out_dim
        self.out_time = self.mix_t.out_dim if mix_time else n_time
        self.norm = make_norm(norm, self.out_freq)
        self.act = make_activation(activation, self.out_freq, **act_kwargs)
        self.adapter = make_adapter(adapter, self.out_freq, rank)

    def forward(self, x):  # (B, F, T)
        h = self.mix_f(x.transpose(1, 2)).transpose(1, 2)  # (B, F', T) fixed, over frequency
        if self.mix_t is not None:
            h = self.mix_t(h)  # (B, F', T') fixed, over time
        return self.adapter(self.act(self.norm(h)))


class FrozenAudio(nn.Module):
    def __init__(self, input_shape, num_classes, depth=2, transform="wht", transform_seed=0, mix_time=True,
                 activation="bislope", act_kwargs=None, adapter="none", rank=0, norm="light", pool=None,
                 head="linear", head_hidden=64, dropout=0.0):
        super().__init__()
        _need_features(input_shape, "frozen_audio")
        if depth < 1:
            raise ValueError(f"model.depth must be >= 1, got {depth}")
        f, t = input_shape
        blocks = []
        for i in range(depth):
            b = FrozenAudioBlock(f, t, transform, transform_seed + i, mix_time, activation, act_kwargs or {},
                                 adapter, rank, norm)
            blocks.append(b)
            f, t = b.out_freq, b.out_time
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(tuple(int(p) for p in pool)) if pool else None
        feat = (int(pool[0]) * int(pool[1])) if pool else f * t
        self.head = make_head(head, feat, num_classes, head_hidden, dropout)

    def forward(self, x):  # (B, F, T)
        h = self.blocks(x)  # (B, F', T')
        if self.pool is not None:
            h = self.pool(h.unsqueeze(1)).squeeze(1)  # (B, pf, pt)
        return self.head(h.flatten(1))


class AudioCNN(nn.Module):
    def __init__(self, input_shape, num_classes, channels=(16, 32, 64), dropout=0.0):
        super().__init__()
        _need_features(input_shape, "audio_cnn")
        layers, c = [], 1
        for w in channels:
            layers += [nn.Conv2d(c, int(w), 3, padding=1), nn.BatchNorm2d(int(w)), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            c = int(w)
        self.convs = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        with torch.no_grad():
            n_feat = self.convs(torch.zeros(1, 1, *input_shape)).mean(3).numel()
        self.fc = nn.Linear(n_feat, num_classes)

    def forward(self, x):  # (B, F, T)
        h = self.convs(x.unsqueeze(1))  # (B, C, F/8, T/8)
        return self.fc(self.drop(h.mean(3).flatten(1)))  # time-averaged, (B, C·F/8)


def build_frozen_audio(cfg: dict, data) -> FrozenAudio:
    m = cfg["model"]
    kw = dict(input_shape=data.input_shape, num_classes=num_classes(data), depth=int(m.get("depth", 2)),
              **transform_args(cfg), mix_time=bool(m.get("mix_time", True)), **activation_args(cfg),
              **adapter_args(cfg), norm=m.get("norm", "light"), pool=m.get("pool"), head=m.get("head", "linear"),
              head_hidden=int(m.get("head_hidden", 64)), dropout=float(m.get("dropout", 0.0)))
    shows = ("pool", "head_hidden") if kw["head"] == "mlp" else ("pool",)
    return sized(cfg, FrozenAudio, kw, by_layouts(_head_layouts), shows)


def _head_layouts(kw: dict) -> list[Layout]:
    """With an MLP head, its hidden width is the knob, on the configured map; with a linear head,
    the side of the square map it reads, up to the map's own size."""
    if kw["head"] == "mlp":
        return [Layout("head hidden width", lambda h: {**kw, "head_hidden": h})]
    return [Layout("linear head on a pooled s x s map", lambda s: {**kw, "pool": [s, s]}, hi=min(_map_shape(kw)))]


def _map_shape(kw: dict) -> tuple[int, int]:
    """(F', T') of the last block's map: a pooled map cannot be larger than it."""
    with torch.random.fork_rng(devices=[]):  # a shape probe must not move the stream the real build draws from
        last = FrozenAudio(**{**kw, "pool": None}).blocks[-1]
    return last.out_freq, last.out_time


def build_audio_cnn(cfg: dict, data) -> AudioCNN:
    m = cfg["model"]
    kw = dict(input_shape=data.input_shape, num_classes=num_classes(data),
              channels=[int(c) for c in (m.get("channels") or (16, 32, 64))], dropout=float(m.get("dropout", 0.0)))
    return sized(cfg, AudioCNN, kw, by_layouts(channel_layouts), shows=("channels",))

