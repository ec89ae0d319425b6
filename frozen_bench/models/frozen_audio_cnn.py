"""``frozen_audio_cnn``: the frozen twin of ``audio_cnn``, like for like.

The same three stages on the (F, T) feature map read as a 1-channel image, the same 2×2 max pooling
(ceil mode), the same average over time and linear head on channels × frequency rows; only the 3×3
convs differ: each is fixed (a filter bank on every channel, ``model.filters``, then the transform
group's channel mixing, ``models.resnet.StructuredConv``), and what trains is the per-channel part
(BatchNorm's affine, the PAct of ``activation=``) and the head. ``model.budget`` sizes the channels in
the ratios of ``model.channels``, as ``audio_cnn``'s.
"""

from __future__ import annotations

import torch
from torch import nn

from frozen_bench.models.blocks import activation_args, norm_act, num_classes, transform_args
from frozen_bench.models.budget import by_layouts, channel_layouts, sized
from frozen_bench.models.resnet import StructuredConv
from frozen_bench.nn.activations import make_activation


class FrozenAudioCNN(nn.Module):
    def __init__(self, input_shape, num_classes, channels=(16, 32, 64), filters="dct", transform="wht",
                 transform_seed=0, activation="relu", act_kwargs=None):
        super().__init__()
        if len(input_shape) != 2:
            raise ValueError(f"model=frozen_audio_cnn needs (F, T) feature inputs such as dataset=speech_commands, "
                             f"got shape {tuple(input_shape)}")
        convs, norms, acts, c = [], [], [], 1
        for i, w in enumerate(int(w) for w in channels):
            convs.append(StructuredConv(c, w, 1, transform_seed + i, filters, None, transform))
            norms.append(nn.BatchNorm2d(w))
            acts.append(make_activation(activation, w, **(act_kwargs or {})))
            c = w
        self.convs, self.norms, self.acts = nn.ModuleList(convs), nn.ModuleList(norms), nn.ModuleList(acts)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        with torch.no_grad():
            n_feat = self.features(torch.zeros(1, *input_shape)).numel()
        self.fc = nn.Linear(n_feat, num_classes)

    def features(self, x):  # (B, F, T) -> (B, C·F/8)
        h = x.unsqueeze(1)
        for conv, norm, act in zip(self.convs, self.norms, self.acts):
            h = self.pool(norm_act(norm, act, conv(h)))  # (B, w, F/2, T/2)
        return h.mean(3).flatten(1)  # time-averaged, as audio_cnn

    def forward(self, x):
        return self.fc(self.features(x))


def build(cfg: dict, data) -> FrozenAudioCNN:
    m = cfg["model"]
    kw = dict(input_shape=data.input_shape, num_classes=num_classes(data),
              channels=[int(c) for c in (m.get("channels") or (16, 32, 64))], filters=m.get("filters", "dct"),
              **transform_args(cfg), **activation_args(cfg, default="relu"))
    return sized(cfg, FrozenAudioCNN, kw, by_layouts(channel_layouts), shows=("channels",))

