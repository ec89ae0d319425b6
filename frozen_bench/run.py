"""The Hydra edge: compose the config, skip finished runs, train, write the record.

Everything below this file takes plain dicts; this is the only module that imports Hydra's
``main`` and reads its state.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from frozen_bench import results as R


def conf_dir() -> str:
    """The installed wheel carries the configs as ``frozen_bench/conf``; a source checkout keeps
    them in the top-level ``conf/``."""
    here = Path(__file__).resolve().parent
    shipped = here / "conf"
    return str(shipped if (shipped / "config.yaml").exists() else here.parent / "conf")


def record_fields(cfg: dict) -> dict:
    """The identity columns of a run: what was trained, as named in the configs."""
    model = cfg.get("model", {})
    adapter = cfg.get("adapter", {})
    return {
        "exp": cfg.get("exp_name"),
        "profile": cfg.get("profile"),
        "budget_name": cfg.get("budget_name"),
        "model": model.get("name"),
        "transform": cfg.get("transform", {}).get("name") if "frozen" in str(model.get("name")) else None,
        "activation": cfg.get("activation", {}).get("name") if "frozen" in str(model.get("name")) else None,
        "adapter": adapter.get("name"),
        "adapter_rank": int(adapter.get("rank") or 0) if adapter.get("name") != "none" else 0,
        "width": model.get("width"),
        "depth": model.get("depth"),
        "seed": cfg.get("seed"),
    }


def execute(cfg: dict, config_yaml: str, log=print) -> dict:
    """Run one resolved config (or skip it if its record is finished); returns its metrics."""
    import json

    import torch

    from frozen_bench.train import train

    sig = R.signature(cfg)
    path = R.run_dir(cfg.get("results_dir", "results"), sig)
    if R.is_done(path) and not cfg.get("force", False):
        log(f"[frozen-bench] skip {sig}: finished record in {path} (force=true re-runs it)")
        return json.loads((path / "metrics.json").read_text())
    threads = cfg.get("trainer", {}).get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    started = time.time()
    out = train(cfg, path, log=log)
    metrics = {"signature": sig, **record_fields(cfg), **out["metrics"]}
    metrics["dataset"] = out["metrics"]["dataset"]
    metrics.update({
        "torch_version": torch.__version__,
        "git_commit": R.git_commit(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "command": " ".join(["frozen-bench", "run", *sys.argv[1:]]),
    })
    R.write_record(path, config_yaml, metrics, out["history"])
    summary = (f"test_accuracy={metrics['test_accuracy']:.4f}" if metrics.get("test_accuracy") is not None
               else f"test_mse={metrics['test_mse']:.4g}" if metrics.get("test_mse") is not None
               else f"status={metrics['status']}")
    lat = metrics.get("latency_ms_b256_p50")
    log(f"[frozen-bench] {metrics['status']}: {summary} trainable_params={metrics['trainable_params']:,}"
        + (f" latency_b1={metrics['latency_ms_b1_p50']:.3f}ms latency_b256={lat:.3f}ms" if lat is not None else "")
        + f" -> {path}")
    return metrics


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="config")
def app(cfg: DictConfig) -> None:
    plain = OmegaConf.to_container(cfg, resolve=True)
    execute(plain, OmegaConf.to_yaml(cfg, resolve=True))
