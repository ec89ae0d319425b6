"""A finished run's model and its preprocessing, rebuilt from the run folder alone."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from frozen_bench.data import preprocess as P
from frozen_bench.errors import UserError

SIGNATURE = re.compile(r"^[0-9a-f]{12}$")


@dataclass
class Trained:
    run_dir: Path
    cfg: dict
    metrics: dict
    model: nn.Module
    spec: dict  # the preprocessing (data.preprocess)

    @property
    def classes(self) -> list[str]:
        return list(self.spec.get("classes") or [])


def run_folder(run_dir: str | Path, results_dir: str | Path | None = None) -> Path:
    """``run_dir`` itself, or a bare signature looked up under ``<results_dir>/runs/``."""
    path = Path(run_dir)
    if path.is_dir():
        return path
    if results_dir is not None and SIGNATURE.match(str(run_dir)) and (Path(results_dir) / "runs" / str(run_dir)).is_dir():
        return Path(results_dir) / "runs" / str(run_dir)
    where = f" or a signature under {results_dir}/runs" if results_dir is not None else ""
    raise UserError(f"no run folder at {run_dir}; give <results_dir>/runs/<signature>{where} "
                    f"(frozen-bench collect lists the runs in all.csv)")


def _stub(spec: dict, name: str):
    """A DataBundle with the shapes of the run's data and no samples: building a model reads its
    input shape, class count and task, never the tensors (so predict needs no training data)."""
    from frozen_bench.data.bundle import DataBundle

    shape = tuple(spec["input_shape"])
    x, y = torch.zeros((2, *shape)), torch.zeros(2, dtype=torch.long)
    regression = spec["kind"] == "values"
    yy = torch.zeros((2, 1)) if regression else y
    return DataBundle(name, x, yy, x, yy, x, yy, num_classes=0 if regression else len(spec["classes"]),
                      task="regression" if regression else "classification")


def recover_spec(cfg: dict, run_dir: Path, log=print) -> dict:
    """The preprocessing of a run saved before preprocess.json existed: its data loaded once from
    the run's config (the statistics are the training split's), then written beside its model."""
    from frozen_bench.data import DatasetError, load_dataset
    from frozen_bench.errors import explain_dataset_errors

    try:
        with explain_dataset_errors(cfg["dataset"].get("name")):
            data = load_dataset(cfg["dataset"], seed=int(cfg["seed"]))
    except (DatasetError, ValueError, OSError) as e:
        raise UserError(f"{run_dir} has no {P.FILE} (saved before the preprocessing was saved with the model) and its "
                        f"training data cannot be loaded to recover it ({' '.join(str(e).split())[:160]}); re-run it with "
                        f"trainer.save_model=true force=true") from None
    spec = data.info.get("preprocess")
    if not spec:
        raise UserError(f"dataset={cfg['dataset'].get('name')} describes no preprocessing; predict supports the image, "
                        f"speech and function datasets")
    try:
        P.write(spec, run_dir)
        log(f"[frozen-bench] {run_dir}: {P.FILE} recovered from the run's training data and saved beside its model")
    except OSError:
        pass  # a read-only run folder: recovered again next time
    return spec


def load(run_dir: str | Path, results_dir: str | Path | None = None, log=print) -> Trained:
    """The model of a finished run (eval mode, CPU) with its preprocessing."""
    import yaml

    from frozen_bench.models import build_model
    from frozen_bench.models.saved import CHECKPOINT

    run_dir = run_folder(run_dir, results_dir)
    mfile, cfile = run_dir / "metrics.json", run_dir / "config.yaml"
    if not cfile.is_file() or not mfile.is_file():
        raise UserError(f"{run_dir} is not a finished run folder (no config.yaml/metrics.json); "
                        f"give <results_dir>/runs/<signature>")
    try:
        metrics = json.loads(mfile.read_text())
        cfg = yaml.safe_load(cfile.read_text())
    except (ValueError, yaml.YAMLError) as e:
        raise UserError(f"{run_dir}: its record is unreadable ({' '.join(str(e).split())[:120]}); re-run that config") from None
    if metrics.get("status") != "ok":
        raise UserError(f"{run_dir} did not finish (status {metrics.get('status')!r}); use a run that finished")
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no {CHECKPOINT}: its model was not saved; run the same config again with "
                        f"trainer.save_model=true (it saves the model into this folder)")
    try:
        spec = P.read(run_dir)
    except ValueError as e:
        raise UserError(f"{e}; delete it to recover it from the run's data") from None
    if spec is None:
        spec = recover_spec(cfg, run_dir, log)
    torch.manual_seed(int(cfg["seed"]))  # as train(): fixed parts drawn from the seed are the run's
    model = build_model(cfg, _stub(spec, metrics.get("dataset") or spec["dataset"]))
    try:
        model.load_state_dict(torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise UserError(f"{run_dir}/{CHECKPOINT} does not fit the model its config builds "
                        f"({' '.join(str(e).split())[:160]}); re-run that config with trainer.save_model=true force=true") from None
    return Trained(run_dir, cfg, metrics, model.eval(), spec)
