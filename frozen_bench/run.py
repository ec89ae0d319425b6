"""The Hydra edge: compose the config, skip finished runs, train, write the record.

Everything below this file takes plain dicts; this is the only module that imports Hydra's
``main`` and reads its state.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from frozen_bench.config import (check_overrides, component_words, conf_dir, config_words, is_multirun, no_effect, prune, sweep_keys,
                                 sweep_points)
from frozen_bench import progress
from frozen_bench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, UserError, is_user_error, one_line
from frozen_bench.record.identity import provenance, record_fields
from frozen_bench.record.rekey import adopt
from frozen_bench.record.signature import signature
from frozen_bench.record.store import claim, is_done, run_dir, write_failed_record, write_record
from frozen_bench.record.table import update_all_csv
from frozen_bench.record.trackers import log_run
from frozen_bench.validate import check_writable, validate

# each sweep job's outcome, in its Hydra job folder (<results_dir>/.multirun/<num>/): on the shared
# file system of a cluster too, where the SweepSummary callback of the submitting process reads it
JOB_NOTE = "frozen-bench-job.json"
_SWEEP: dict = {}  # the sweep of this process (main's side): {"dir": its folder, "code": the summary's exit code}
# the keys a sweep varies (JSON list), set by ``main`` for the jobs' line prefix in parallel workers
SWEEP_KEYS_ENV = "FROZEN_BENCH_SWEEP_KEYS"


def to_yaml(cfg: dict) -> str:
    """The record's config.yaml: the pruned, resolved config, in the order Hydra composed it."""
    return OmegaConf.to_yaml(OmegaConf.create(cfg))


def execute(cfg: dict, log=progress.say, collect_log=None, collect: bool = True, words: list[str] | None = None) -> dict:
    """Run one resolved config (or skip it if its record is finished); returns its metrics.
    The config is pruned first (``config.prune``): its signature and config.yaml hold only
    the groups the model reads.

    Order matters for "bad input overwrites nothing": the config is validated and the output
    folder probed before any data are loaded; the record is written only after training, and
    metrics.json last. A checkpoint (trainer.checkpoint_every) is the one file written during
    training; it is removed once the record is complete. ``collect_log`` takes the all.csv
    refresh's lines (default: ``log``; a sweep's jobs send the routine ones to debug); without
    ``collect`` the caller refreshes all.csv itself (``run-lines``: once, after its last run).
    ``words``: the run's overrides for its provenance where sys.argv is not its command line.
    """
    from frozen_bench.train.checkpoint import FILENAME as CHECKPOINT
    from frozen_bench.train.threads import configure_malloc, configure_threads
    from frozen_bench.train import train

    cfg = prune(cfg)
    validate(cfg)
    sig = signature(cfg)
    results_dir = cfg.get("results_dir", "results")
    path = run_dir(results_dir, sig)
    if not is_done(path):  # a record made before a signature change counts as this run's
        adopt(results_dir, cfg, log=log)
    if is_done(path) and not cfg.get("force", False):
        log(f"[frozen-bench] skip {sig}: finished record in {path} (force=true re-runs it)")
        return {**json.loads((path / "metrics.json").read_text()), "skipped": True}
    check_writable(results_dir)
    # cores for this run: trainer.threads, else split between parallel workers (joblib sets
    # OMP_NUM_THREADS in each), else all the cores this process may use
    configure_threads(cfg.get("trainer", {}).get("threads"))
    configure_malloc()  # freed tensors' memory is reused, not unmapped: no page faults per large op
    with claim(path) as mine:
        if not mine:  # an overlapping sweep is training this very config: never run it twice
            log(f"[frozen-bench] skip {sig}: another process is running it now ({path})")
            return {"signature": sig, "status": "busy", "skipped": True}
        if is_done(path) and not cfg.get("force", False):  # it finished while we waited
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
    ``JOB_NOTE``) for the sweep's summary (``SweepSummary``). ``collect`` and ``words``: as
    ``execute``'s.
    """
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
        _note(note, {"signature": sig, "status": status, "error": error, "label": label, "job": job,
                     "results_dir": str(cfg.get("results_dir", "results"))})
    if code == EXIT_INTERRUPTED:
        raise SystemExit(code)  # Ctrl-C stops the sweep too (Hydra catches only Exception)
    return code, m


def _note(path: Path, entry: dict) -> None:
    """One job's outcome as a small JSON file (written whole, by rename: a reader on another node
    never sees half of it)."""
    from frozen_bench.atomic import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(entry, default=str) + "\n")
    except OSError:
        pass  # the summary is a convenience; the records are the truth


def read_notes(sweep_dir: str | Path) -> list[dict]:
    """The outcomes the jobs of a sweep left in their folders (``<sweep_dir>/<num>/JOB_NOTE``)."""
    entries = []
    for f in sorted(Path(sweep_dir).glob(f"*/{JOB_NOTE}")):
        try:
            entries.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            pass
    return entries


try:
    from hydra.experimental.callback import Callback
except ImportError:  # an older Hydra: no callbacks, no summary
    Callback = object


class SweepSummary(Callback):
    """The sweep's summary, from the outcomes its jobs wrote next to their records, not from the
    memory or /tmp of the process that launched them, so it holds for any launcher (joblib
    workers, submitit jobs on other nodes). Configured in ``conf/config.yaml``
    (``hydra.callbacks``); both hooks run in the launching process."""

    def on_multirun_start(self, config, **kwargs) -> None:
        folder = Path(str(config.hydra.sweep.dir))
        for stale in folder.glob(f"*/{JOB_NOTE}"):  # a previous sweep's, in the same folder
            stale.unlink(missing_ok=True)
        _SWEEP["dir"] = folder

    def on_multirun_end(self, config, **kwargs) -> None:
        _SWEEP["code"] = summarize(read_notes(str(config.hydra.sweep.dir)))


def main(argv: list[str]) -> int:
    """``frozen-bench run ARGS``: the Hydra app with one-line errors and, for a sweep, a summary
    of every job at the end (exit 1 if any failed, 2 for bad input, 130 on Ctrl-C)."""
    if any(a in ("-sc", "--shell-completion") or a.startswith("--shell-completion=") for a in argv):
        return shell_completion(argv)  # install=bash, query=bash: Hydra's words, not overrides
    try:
        check_overrides(argv)
        watched = component_words(argv)  # transform=, adapter.rank=, ...: may the model ignore them?
        configs = validate_sweep(argv, keep=bool(watched)) if is_multirun(argv) else _composed(argv) if watched else []
    except UserError as e:
        print(f"frozen-bench run: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in no_effect(watched, configs) if watched else ():
        print(f"frozen-bench run: warning: {line}", file=sys.stderr)
    saved = os.environ.get(SWEEP_KEYS_ENV)
    os.environ.pop(SWEEP_KEYS_ENV, None)
    if is_multirun(argv):
        if any("submitit_slurm" in a for a in argv):
            from frozen_bench import slurm

            slurm.install()  # job states without sacct where the cluster keeps no accounting
        keys = _sweep_keys(argv)
        if keys is not None:
            os.environ[SWEEP_KEYS_ENV] = json.dumps(keys)  # the workers inherit it
    _SWEEP.clear()
    old_argv = sys.argv
    sys.argv = ["frozen-bench run", *argv]
    code = 0
    try:
        app()
    except SystemExit as e:  # our own codes, or Hydra's (1) for a config it cannot compose
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        print("frozen-bench run: interrupted; finished records are intact, re-run to resume", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as e:  # raised by Hydra itself outside any job, e.g. `-m` with `--cfg`
        if not is_user_error(e):
            traceback.print_exc()
        print(f"frozen-bench run: error: {one_line(e)}", file=sys.stderr)
        code = EXIT_BAD_INPUT if is_user_error(e) else EXIT_FAILED
    finally:
        sys.argv = old_argv
        if saved is None:
            os.environ.pop(SWEEP_KEYS_ENV, None)
        else:
            os.environ[SWEEP_KEYS_ENV] = saved
    if "code" in _SWEEP:  # SweepSummary printed it
        return code or _SWEEP["code"]
    # a sweep that stopped early (Ctrl-C, a launcher error): what its jobs finished, from their notes
    return summarize(read_notes(_SWEEP["dir"]) if "dir" in _SWEEP else [], code)


def _sweep_keys(argv: list[str]) -> list[str] | None:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return sweep_keys(argv)
    except (HydraException, OmegaConfBaseException):
        return None  # the line prefix is then the job number alone


def shell_completion(argv: list[str]) -> int:
    """Hydra's shell completion for ``frozen-bench run``: ``-sc install=bash`` prints a script
    registered for ``frozen-bench`` (it calls ``frozen-bench -sc query=bash``, which ``cli``
    sends here); a query completes the command word itself with the command names, the words
    after ``run`` with Hydra's groups, options and keys, and nothing after another command (the
    shell then offers file names). No pre-check, no job: these words are not overrides."""
    line = os.environ.get("COMP_LINE")
    saved = line
    if line is not None and any(a.startswith("query=") for a in argv):
        words = line.split()
        current = len(words) - (0 if not line or line[-1].isspace() else 1)  # the word being completed
        if current <= 1:
            from frozen_bench.cli import COMMANDS

            print("\n".join(["run", *COMMANDS]))
            return 0
        if words[1] != "run":
            return 0
        os.environ["COMP_LINE"] = re.sub(r"^(\s*\S+)\s+run(?=\s|$)", r"\1", line, count=1)  # Hydra strips the app name
    old_argv, sys.argv = sys.argv, ["frozen-bench", *argv]  # the name the script registers and calls
    try:
        app()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old_argv
        if saved is not None:
            os.environ["COMP_LINE"] = saved
    return 0


def _composed(argv: list[str]) -> list[tuple[dict, dict]]:
    """The (resolved, pruned) config of a single run's command line; [] where it cannot be
    composed here (another config source: Hydra reports it)."""
    from hydra import compose, initialize_config_dir

    if any(a.split("=")[0] in ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd") for a in argv):
        return []
    try:
        words = config_words(argv)
        with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
            full = OmegaConf.to_container(compose("config", overrides=words), resolve=True)
        return [(full, prune(full))]
    except Exception:  # a warning is never worth a failure; check_overrides said what was wrong
        return []


def validate_sweep(argv: list[str], keep: bool = False) -> list[tuple[dict, dict]]:
    """Every point of a ``-m`` sweep, composed, pruned and validated before the first job starts:
    a bad value in job 7 is one line now, not a failure after six jobs trained. A sweep whose
    points cannot be listed here (optuna, ranges) is left to each job's own check. With ``keep``,
    returns each point's (resolved, pruned) config (for ``config.no_effect``)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    configs: list[tuple[dict, dict]] = []
    try:
        points = sweep_points(argv)
    except (HydraException, OmegaConfBaseException):
        return configs  # check_overrides has composed these overrides; anything left is Hydra's to report
    if not points:
        return configs
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        for point in points:
            try:
                cfg = OmegaConf.to_container(compose("config", overrides=point), resolve=True)
            except (HydraException, OmegaConfBaseException):
                continue  # composing is check_overrides' part; the job reports what is left
            try:
                pruned = prune(cfg)
                validate(pruned)
            except UserError as e:
                raise UserError(f"{e} [{' '.join(point)}]; no job of this sweep was started") from None
            except Exception:  # not bad input: the job itself will say what it is
                continue
            if keep:
                configs.append((cfg, pruned))
    return configs


def _record_metrics(entry: dict) -> dict:
    """A job note's run record (metrics.json), or {} where there is none (bad input, a crash)."""
    sig = entry.get("signature")
    if not sig:
        return {}
    try:
        return json.loads((run_dir(entry.get("results_dir") or "results", sig) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def jobs_table(entries: list[dict]) -> list[str]:
    """One line per job of a sweep, read from the run records: job, status, test and validation
    accuracy (or mse), trainable parameters, signature and the job's own overrides (those not
    shared by every job)."""
    def pct(v):
        return f"{100 * v:.2f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else "-"

    def num(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else "-"

    # the overrides every job shares (results_dir, the recipe) say nothing about one job: left out
    words = [str(e.get("label") or "").split() for e in entries]
    shared = set.intersection(*map(set, words)) if len(words) > 1 else set()
    rows = []
    order = sorted(range(len(entries)), key=lambda i: (entries[i].get("job") is None, entries[i].get("job") or 0, i))
    records = [_record_metrics(entries[i]) for i in order]
    mse = any(r.get("test_mse") is not None or r.get("val_mse") is not None for r in records)
    head = ["job", "status", "test_acc", "val_acc"] + (["test_mse", "val_mse"] if mse else []) + ["trainable", "signature", "overrides"]
    for i, m in zip(order, records):
        e = entries[i]
        row = [str(e.get("job") if e.get("job") is not None else i), str(e.get("status")),
               pct(m.get("test_accuracy")), pct(m.get("val_accuracy"))]
        if mse:
            row += [num(m.get("test_mse"), ".4g"), num(m.get("val_mse"), ".4g")]
        own = " ".join(w for w in words[i] if w not in shared)
        row += [num(m.get("trainable_params"), ","), str(e.get("signature") or "-"), own]
        rows.append(row)
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head) - 1)]
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r[:-1], widths)) + "  " + r[-1]  # noqa: E731
    return ["[frozen-bench]   " + fmt(head).rstrip()] + ["[frozen-bench]   " + fmt(r).rstrip() for r in rows]


def summarize(entries: list[dict], code: int = 0) -> int:
    """Print a sweep's outcome (when it had more than one job or any failure): the counts, one
    table of its jobs' key metrics from their records, the failures; the exit code is non-zero
    when any job failed."""
    failed = [e for e in entries if e.get("status") == "failed"]
    if len(entries) > 1:
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.get("status")] = counts.get(e.get("status"), 0) + 1
        print("[frozen-bench] sweep: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
              + f" of {len(entries)} jobs", file=sys.stderr)
        try:
            for line in jobs_table(entries):
                print(line, file=sys.stderr)
        except Exception as e:  # the table is a convenience; the records are the truth
            print(f"[frozen-bench]   (no jobs table: {one_line(e)})", file=sys.stderr)
        for e in failed:
            print(f"[frozen-bench]   failed {e.get('signature')} [{e.get('label')}]: {e.get('error')}", file=sys.stderr)
    if code:
        return code
    return EXIT_FAILED if failed else 0


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
