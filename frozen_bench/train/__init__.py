"""Training: one run (``train_run.train(cfg) -> metrics``), the loop (fit, evaluate, param groups),
phases (a shift run = several fits), the config checks, measurements (latency, params, bytes,
compute) and checkpoints."""

from frozen_bench.train.train_run import train

__all__ = ["train"]
