"""Experiment trackers (the ``logger`` config group): after a run's record is written, its
hyper-parameters (the pruned config, flattened), per-epoch history and final metrics go to the
chosen tracker, with the run signature as the run name.

- ``csv`` (default): nothing more than the record itself (config.yaml, history.csv, metrics.json);
- ``tensorboard``: an event file in ``<logger.save_dir>/<signature>/`` (``tensorboard`` package);
- ``mlflow``: a run in the local SQLite store ``<logger.tracking_uri>`` (``sqlite:///<results_dir>/mlflow.db``;
  ``mlflow`` package), which ``mlflow ui --backend-store-uri`` opens as it is;
- ``wandb``: an offline run under ``<logger.dir>/wandb/`` (``wandb`` package; ``wandb sync`` uploads it).

The record is the truth: a tracker that fails after the record was written is one warning line,
never a failed run. A missing library is one line naming the extra, before training starts
(``require``, called by ``run.check``).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

from frozen_bench.errors import UserError

# logger name -> the module that must be importable
LIBRARIES = {"csv": None, "tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
EXTRA = "pip install 'frozen-bench[trackers]'"


def name_of(cfg: dict) -> str:
    logger = cfg.get("logger")
    if logger is None:
        return "csv"
    if isinstance(logger, str):
        return logger
    return str((logger or {}).get("name") or "csv")


def require(cfg: dict) -> None:
    """``UserError`` (one line) for an unknown logger, or one whose library is not installed."""
    name = name_of(cfg)
    if name not in LIBRARIES:
        raise UserError(f"unknown logger {name!r}; choose one of {', '.join(LIBRARIES)} (logger=csv logs nothing extra)")
    module = LIBRARIES[name]
    if module is not None and importlib.util.find_spec(module) is None:
        raise UserError(f"logger={name} needs the {module!r} package, which is not installed; "
                        f"install it with {EXTRA} (or `pip install {module}`), or use logger=csv")


def flatten(cfg: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become their JSON text."""
    out: dict = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(list(v), default=str)
        else:
            out[key] = v
    return out


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def numeric(row: dict) -> dict[str, float]:
    """The finite numbers of a row (bools, strings, None and nan left out)."""
    return {k: n for k, v in row.items() if (n := _number(v)) is not None}


def _hparams(cfg: dict) -> dict:
    """Flattened config without the tracker's own settings; values as str/int/float/bool."""
    flat = {k: v for k, v in flatten(cfg).items() if not k.startswith("logger.")}
    return {k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in flat.items()}


def _steps(history: list[dict]):
    """(step, numbers of the row) per history row; the step is the row's optimizer step, else its index."""
    for i, row in enumerate(history):
        nums = numeric(row)
        step = nums.pop("step", None)
        yield int(step if step is not None else i + 1), nums


def log_run(cfg: dict, sig: str, metrics: dict, history: list[dict], log=print) -> Path | None:
    """Send one finished run to ``cfg["logger"]``; returns where it went (None for csv or on failure)."""
    name = name_of(cfg)
    if name == "csv":
        return None
    settings = cfg.get("logger") if isinstance(cfg.get("logger"), dict) else {}
    results_dir = Path(cfg.get("results_dir", "results"))
    try:
        where = {"tensorboard": _tensorboard, "mlflow": _mlflow, "wandb": _wandb}[name](
            settings, results_dir, cfg, sig, metrics, history)
    except Exception as e:  # the record is written already: a tracker problem never fails the run
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        log(f"[frozen-bench] logger={name}: could not log run {sig} ({msg}); its record is intact")
        return None
    log(f"[frozen-bench] logger={name}: run {sig} -> {where}")
    return where


def _tensorboard(settings, results_dir, cfg, sig, metrics, history) -> Path:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    logdir = Path(settings.get("save_dir") or results_dir / "tensorboard") / sig
    final = numeric(metrics)
    writer = SummaryWriter(log_dir=str(logdir))
    try:
        last = 0
        for step, nums in _steps(history):
            last = max(last, step)
            for k, v in nums.items():
                writer.add_scalar(f"history/{k}", v, step)
        for k, v in final.items():
            writer.add_scalar(f"final/{k}", v, last)
        exp, ssi, sei = hparams(_hparams(cfg), {f"final/{k}": v for k, v in final.items()})
        for summary in (exp, ssi, sei):
            writer.file_writer.add_summary(summary)
        writer.add_text("metrics", "```\n" + json.dumps(metrics, indent=1, sort_keys=True, default=str) + "\n```")
    finally:
        writer.close()
    return logdir


def _mlflow(settings, results_dir, cfg, sig, metrics, history) -> str:
    import os

    uri = settings.get("tracking_uri") or f"sqlite:///{results_dir / 'mlflow.db'}"
    artifacts = None
    if uri.startswith("sqlite:///"):
        # a relative path is relative to where the run started: made absolute here, so that a
        # sweep's workers and the viewer started in the same folder read one database
        db = Path(uri[len("sqlite:///"):]).expanduser().resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        uri, artifacts = f"sqlite:///{db}", (db.parent / "mlartifacts").as_uri()  # not ./mlruns in the working directory
    elif "://" not in uri and not uri.startswith(("file:", "sqlite:")):
        uri = Path(uri).resolve().as_uri()
    if uri.startswith("file:"):
        # an explicit file store (logger.tracking_uri=PATH): MLflow >= 3.7 refuses it unless asked
        # (maintenance mode, and its viewer will not open it); the default is the sqlite store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp_name = settings.get("experiment_name") or cfg.get("exp_name") or "frozen-bench"
    exp = client.get_experiment_by_name(exp_name)
    if exp is not None:
        exp_id = exp.experiment_id
    else:
        try:
            exp_id = client.create_experiment(exp_name, artifact_location=artifacts)
        except Exception:  # a parallel sweep worker created it first
            exp = client.get_experiment_by_name(exp_name)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    strings = {k: str(v) for k, v in metrics.items() if _number(v) is None and v is not None and len(str(v)) <= 5000}
    run = client.create_run(exp_id, run_name=sig, tags={"signature": sig, **strings})
    rid = run.info.run_id
    from mlflow.entities import Metric, Param

    params = [Param(k, str(v)[:6000]) for k, v in _hparams(cfg).items()]
    rows = []
    ts = int(run.info.start_time or 0)
    last = 0
    for step, nums in _steps(history):
        last = max(last, step)
        rows += [Metric(k, v, ts, step) for k, v in nums.items()]
    rows += [Metric(k, v, ts, last) for k, v in numeric(metrics).items()]
    for i in range(0, max(len(params), 1), 100):
        client.log_batch(rid, params=params[i:i + 100])
    for i in range(0, len(rows), 1000):
        client.log_batch(rid, metrics=rows[i:i + 1000])
    client.set_terminated(rid, status="FINISHED" if metrics.get("status") == "ok" else "FAILED")
    return f"{uri} (experiment {exp_name!r}, run {rid}; view: mlflow ui --backend-store-uri {uri})"


def _wandb(settings, results_dir, cfg, sig, metrics, history) -> Path:
    import wandb

    root = Path(settings.get("dir") or results_dir)
    root.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=settings.get("project") or "frozen-bench", name=sig, dir=str(root),
                     mode=settings.get("mode") or "offline", config=_hparams(cfg),
                     group=cfg.get("exp_name"))  # finished below, so a sweep's next job starts a new run
    try:
        for step, nums in _steps(history):
            run.log(nums, step=step)
        run.summary.update(numeric(metrics))
        run.summary.update({k: str(v) for k, v in metrics.items() if _number(v) is None and v is not None})
        where = Path(run.dir).parent
    finally:
        run.finish()
    return where
