#!/usr/bin/env python
"""Estimate each preset's CPU training time without its data: build the preset's model on random
tensors of the dataset's real shape, time a few optimizer steps at the preset's batch size, and
scale by the real training-set size and epoch count (evaluation and loading not included).

    python scripts/time_presets.py cifar_wht speech_fft
"""

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from frozen_bench.data import DataBundle  # noqa: E402
from frozen_bench.models import build_model  # noqa: E402
from frozen_bench.config import conf_dir  # noqa: E402
from frozen_bench.train.loop import param_groups  # noqa: E402

# dataset -> (input shape, classes, training samples after the validation split)
SHAPES = {
    "cifar10": ((3, 32, 32), 10, 45000), "cifar100": ((3, 32, 32), 100, 45000),
    "mnist": ((1, 28, 28), 10, 55000), "fashion_mnist": ((1, 28, 28), 10, 55000),
    "speech_commands": (None, 35, 84843),  # v2 standard split
    "speech_commands_synth": (None, 35, 35 * 32),  # make_synthetic_speech defaults: 40/word, 80% train
    "speech_commands_test12": (None, 12, 3423),  # about 70% of the 4,890 clips (whole speakers)
}


def main(names):
    for exp in names:
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = OmegaConf.to_container(compose(config_name="config", overrides=[f"+exp={exp}"]), resolve=True)
        ds = cfg["dataset"]
        if ds["name"] not in SHAPES:
            print(f"{exp}: skipped (dataset {ds['name']} not in this script's table)")
            continue
        shape, classes, n = SHAPES[ds["name"]]
        if shape is None:  # speech: rows x frames of the front end
            rows = {"fft": ds["n_fft"] // 2 + 1, "logmel": ds["n_mels"], "mfcc": ds["n_mfcc"]}[ds["frontend"]]
            shape = (rows, 1 + 16000 // ds["hop_length"])
        bs, epochs = int(cfg["trainer"]["batch_size"]), int(cfg["trainer"]["epochs"])
        x, y = torch.randn(bs, *shape), torch.randint(0, classes, (bs,))
        data = DataBundle(ds["name"], x, y, x[:0], y[:0], x[:0], y[:0], num_classes=classes)
        torch.manual_seed(0)
        model = build_model(cfg, data)
        opt = torch.optim.AdamW(param_groups(model, cfg["optim"]))
        times = []
        for i in range(6):
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:  # the first step warms up
                times.append(time.perf_counter() - t0)
        step = sorted(times)[len(times) // 2]
        total = step * math.ceil(n / bs) * epochs
        print(f"{exp}: {step * 1e3:.0f} ms/step at batch {bs}, {math.ceil(n / bs)} steps/epoch x {epochs} epochs "
              f"-> ~{total / 60:.0f} min training on {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(p.stem for p in (Path(conf_dir()) / "exp").glob("*.yaml")))
