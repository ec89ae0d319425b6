"""The Hydra edge: compose the config, skip finished runs, train, write the record.

``app`` is the Hydra app: one job, from the config Hydra composed. ``execute`` and ``run_job``
take a plain resolved dict (``launch.run_lines`` composes its lines with Hydra's compose API and
calls ``run_job`` itself), and so does everything they call; below this module only
``record.identity.job_overrides`` also asks Hydra's state, for the job's own overrides. How jobs
are launched (the pre-checks of ``frozen-bench run``, the sweep's summary, run lines, SLURM) is
the ``launch`` wing's, above this module.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from frozen_bench.config import conf_dir
from frozen_bench import progress
from frozen_bench.atomic import atomic_write_text
from frozen_bench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, is_user_error, one_line
from frozen_bench.record.identity import code_version, provenance, record_fields
from frozen_bench.record.rekey import adopt
from frozen_bench.record.signature import signature
from frozen_bench.record.store import check_writable, claim, is_done, run_dir, write_failed_record, write_record
from frozen_bench.record.table import update_all_csv
from frozen_bench.record.trackers import log_run, require

# each sweep job's outcome, in its Hydra job folder (<results_dir>/.multirun/<num>/): on the shared
# file system of a cluster too, where the sweep's summary (launch.sweep) in the submitting process reads it
JOB_NOTE = "frozen-bench-job.json"
# the keys a sweep varies (JSON list), set by ``launch.command`` for the jobs' line prefix in parallel workers
SWEEP_KEYS_ENV = "FROZEN_BENCH_SWEEP_KEYS"


def check(cfg: dict) -> None:
    """What a run checks before any data load, each failure one line: its values
    (``train.check_config.validate``) and its logger's library (``record.trackers.require``)."""
    from frozen_bench.train.check_config import validate  # (the train wing: imported on use)

    validate(cfg)
    require(cfg)


def to_yaml(cfg: dict) -> str:
    """The record's config.yaml: the pruned, resolved config, in the order Hydra composed it."""
    return OmegaConf.to_yaml(OmegaConf.create(cfg))


def execute(cfg: dict, log=progress.say, collect_log=None, collect: bool = True, words: list[str] | None = None) -> dict:
    """Run one resolved config (or skip it if its record is finished); returns its metrics.
    The config is pruned first (``models.prune``): its signature and config.yaml hold only
    the groups the model reads.

    Order matters for "bad input overwrites nothing": the config is validated and the output
    folder probed before any data are loaded; the record is written only after training, and
    metrics.json last. A checkpoint (trainer.checkpoint_every) is the one file written during
    training; it is removed once the record is complete. ``collect_log`` takes the all.csv
    refresh's lines (default: ``log``; a sweep's jobs send the routine ones to debug); without
    ``collect`` the caller refreshes all.csv itself (``run-lines``: once, after its last run).
    ``words``: the run's overrides for its provenance where sys.argv is not its command line.
    """
    from frozen_bench.models import prune
    from frozen_bench.train import train
    from frozen_bench.train.checkpoint import FILENAME as CHECKPOINT
    from frozen_bench.train.threads import configure_malloc, configure_threads

    code_version()  # the code this process loaded, named by every record it writes
    cfg = prune(cfg)
    check(cfg)
    sig = signature(cfg)
    results_dir = cfg.get("results_dir", "results")
    path = run_dir(results_dir, sig)
    if not is_done(path):  # a record made before a signature change counts as this run's
        adopt(results_dir, cfg, log=log)
    if is_done(path) and not _redo(cfg, path, log):
        log(f"[frozen-bench] skip {sig}: finished record in {path} (force=true re-runs it)")
        return {**json.loads((path / "metrics.json").read_text()), "skipped": True}
    row = None if is_done(path) else _finished_in_csv(cfg, sig, results_dir)
    if row is not None:
        log(f"[frozen-bench] skip {sig}: finished row of {Path(results_dir) / 'all.csv'}, its run folder is not here "
            f"(force=true re-runs it)")
        return {**row, "skipped": True}
    check_writable(results_dir)
    # cores for this run: trainer.threads, else split between parallel workers (joblib sets
    # OMP_NUM_THREADS in each), else all the cores this process may use
    configure_threads(cfg.get("trainer", {}).get("threads"))
    configure_malloc()  # freed tensors' memory is reused, not unmapped: no page faults per large op
    with claim(path) as mine:
        if not mine:  # an overlapping sweep is training this very config: never run it twice
            log(f"[frozen-bench] skip {sig}: another process is running it now ({path})")
            return {"signature": sig, "status": "busy", "skipped": True}
        if is_done(path) and not _redo(cfg, path, lambda *_: None):  # it finished while we waited
            log(f"[frozen-bench] skip {sig}: finished record in {path}")
            return {**json.loads((path / "metrics.json").read_text()), "skipped": True}
        for stale in path.glob(".*.tmp"):  # half-written files of a killed attempt; never read
            stale.unlink(missing_ok=True)
        started = time.time()
        out = train(cfg, path, log=log)
        metrics = {"signature": sig, **record_fields(cfg), **out["metrics"]}
        metrics["dataset"] = out["metrics"]["dataset"]
        metrics.update(provenance(started, words))
        write_record(path, to_yaml(cfg), metrics, out["history"])
        (path / CHECKPOINT).unlink(missing_ok=True)
        log_run(cfg, sig, metrics, out["history"], log=log)  # logger=csv: nothing more
    summary = (f"test_accuracy={metrics['test_accuracy']:.4f}" if metrics.get("test_accuracy") is not None
               else f"test_mse={metrics['test_mse']:.4g}" if metrics.get("test_mse") is not None
               else f"non-finite loss at step {metrics.get('diverged_step')}" if metrics["status"] == "diverged"
               else f"status={metrics['status']}")
    lat = metrics.get("latency_ms_b256_p50")
    log(f"[frozen-bench] {metrics['status']}: {summary} trainable_params={metrics['trainable_params']:,}"
        + (f" latency_b1={metrics['latency_ms_b1_p50']:.3f}ms latency_b256={lat:.3f}ms" if lat is not None else "")
        + f" -> {path}")
    if collect:
        update_all_csv(results_dir, log=collect_log or log)
    return metrics


def _finished_in_csv(cfg: dict, sig: str, results_dir) -> dict | None:
    """The finished all.csv row of this run (by its signature or a legacy one) where its run folder
    is absent: a fresh clone of the paper's results holds its rows, never its run folders, and a
    re-run of its commands must not train core-hours again. None where the run must train anyway:
    ``force=true``, or ``trainer.save_model=true`` (the row has no model.pt)."""
    from frozen_bench.record.signature import legacy_signatures
    from frozen_bench.record.table import finished_row

    if cfg.get("force", False) or (cfg.get("trainer") or {}).get("save_model"):
        return None
    return finished_row(results_dir, [sig, *legacy_signatures(cfg)])


def _redo(cfg: dict, path: Path, log) -> bool:
    """Whether a finished record is trained again: ``force=true``, or ``trainer.save_model=true``
    where its folder has no model.pt. save_model is not in the signature, so the new record
    replaces the old one in the same folder: the run is listed once, with its model."""
    if cfg.get("force", False):
        return True
    if (cfg.get("trainer") or {}).get("save_model") and not (path / "model.pt").is_file():
        log(f"[frozen-bench] {path.name}: its finished record has no model.pt; training it again to save the model "
            f"(the record in {path} is replaced: still one record)")
        return True
    return False


def _collect_chatter_to_debug(log):
    """A sweep job's ``collect: N runs -> all.csv`` line at debug level (one per job is noise; the
    sweep's table ends it); any other collect line (a corrupt record) still goes to ``log``."""
    def route(msg: str) -> None:
        if msg.startswith("[frozen-bench] collect: ") and " runs -> " in msg:
            progress.logger.debug(msg)
        else:
            log(msg)
    return route


def run_job(cfg: dict, multirun: bool = False, label: str = "", log=progress.say, job=None,
            note: Path | None = None, collect: bool = True, words: list[str] | None = None) -> tuple[int, dict]:
    """``execute`` with the failure policy of the CLI; returns (exit code (0 = ok), metrics).

    - bad input (``errors.user_errors()``): one line on stderr, no traceback;
    - anything else: its traceback (it is a bug to report), then the one line;
    - Ctrl-C: the run is marked failed with error=interrupted, then the interrupt goes on
      (a sweep stops; its finished records are untouched, the checkpoint stays for a resume).
    A failed run gets a record (status=failed, error=...) so ``collect`` lists it, except a
    single run with bad input, which writes nothing. A finished record is
    never replaced by a failure. A sweep job's outcome goes to ``note`` (its Hydra job folder's
    ``JOB_NOTE``) for the sweep's summary (``launch.sweep.SweepSummary``). ``collect`` and ``words``: as
    ``execute``'s.
    """
    from frozen_bench.models import prune

    started = time.time()
    cfg = prune(cfg)
    sig = signature(cfg)
    path = run_dir(cfg.get("results_dir", "results"), sig)
    status, error, code, m = "failed", None, 0, {}
    try:
        m = execute(cfg, log=log, collect_log=_collect_chatter_to_debug(log) if multirun else None,
                    collect=collect, words=words)
        status = "skipped" if m.get("skipped") else m.get("status", "ok")
    except KeyboardInterrupt:
        error, code = "interrupted", EXIT_INTERRUPTED
        print(f"frozen-bench run: interrupted ({label or sig}); finished records are intact, re-run to resume",
              file=sys.stderr)
    except Exception as e:
        error = one_line(e)
        user = is_user_error(e)
        code = EXIT_BAD_INPUT if user else EXIT_FAILED
        if not user:
            traceback.print_exc()
        print(f"frozen-bench run: error: {error}" + (f" [{label}]" if multirun and label else ""), file=sys.stderr)
    if error is not None and (multirun or code != EXIT_BAD_INPUT):
        fields = {"signature": sig, **record_fields(cfg), "dataset": (cfg.get("dataset") or {}).get("name"),
                  **provenance(started, words)}
        if write_failed_record(path, to_yaml(cfg), fields, error, log=log) and collect:
            try:
                update_all_csv(cfg.get("results_dir", "results"), log=lambda *_: None)
            except OSError:
                pass
    if note is not None:
        write_note(note, {"signature": sig, "status": status, "error": error, "label": label, "job": job,
                     "results_dir": str(cfg.get("results_dir", "results"))})
    if code == EXIT_INTERRUPTED:
        raise SystemExit(code)  # Ctrl-C stops the sweep too (Hydra catches only Exception)
    return code, m


def write_note(path: Path, entry: dict) -> None:
    """One job's outcome as a small JSON file (written whole, by rename: a reader on another node
    never sees half of it); ``launch.sweep.read_notes`` reads them back."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entry, default=str) + "\n")
    except OSError:
        pass  # the summary is a convenience; the records are the truth


def _env_keys() -> list[str] | None:
    try:
        keys = json.loads(os.environ.get(SWEEP_KEYS_ENV) or "null")
    except ValueError:
        return None
    return [str(k) for k in keys] if isinstance(keys, list) else None


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="config")
def app(cfg: DictConfig) -> float | None:
    """One job. Returns the metric named by ``objective`` (for sweepers that optimize, e.g. the
    optuna ``+sweep=lr_search``); when the job has none, the worst value of the sweeper's direction."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    launcher = str(OmegaConf.select(hc, "launcher._target_", default="") or "")
    parallel = multirun and not launcher.endswith("BasicLauncher")
    # parallel workers share one terminal: plain progress lines there, never bars, each line
    # naming its job ([job 3 transform=dct seed=1])
    progress.set_mode("lines" if parallel else None)
    if multirun:  # the sweep's jobs in this process decode a dataset once (a single run loads it afresh)
        from frozen_bench.data import keep_loaded_in_this_process

        keep_loaded_in_this_process()
    plain = OmegaConf.to_container(cfg, resolve=True)
    job = OmegaConf.select(hc, "job.num", default=None) if multirun else None
    progress.set_prefix(progress.job_prefix(job, list(hc.overrides.task), _env_keys()) if parallel else "")
    note = Path(str(hc.runtime.output_dir)) / JOB_NOTE if multirun else None
    code, metrics = run_job(plain, multirun=multirun, label=" ".join(hc.overrides.task), job=job, note=note)
    if code and not multirun:
        raise SystemExit(code)  # a single run's exit code; a sweep goes on and reports at the end
    value = metrics.get(plain.get("objective") or "val_accuracy")
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    # no value (a failed or diverged job): the worst score of a searching sweeper's direction, so
    # the search ranks it last and goes on (the Optuna sweeper stops at a NaN: it tells the study
    # twice and crashes); NaN for any other sweeper, which ignores the value
    direction = str(OmegaConf.select(hc, "sweeper.direction", default="") or "")
    return {"maximize": float("-inf"), "minimize": float("inf")}.get(direction, float("nan"))
