"""Training: the loop (fit, evaluate, param groups), phases (a shift run = several fits), the job
(``train(cfg) -> metrics``), measurements (latency, params, bytes) and checkpoints."""

from frozen_bench.train.job import train

__all__ = ["train"]
