"""``frozen-bench run``: the checks before the Hydra app starts, the app, and the exit code.

Before any job starts, the command line is checked (``config.check_overrides``: unknown options
and keys as one line) and every point of a sweep is composed, pruned and validated, so a bad value
in job 7 fails now, not after six jobs trained; words the chosen model ignores are a warning. Then
``run.app`` runs under Hydra with the sweep's keys in the environment (each parallel job's line
prefix), and ``launch.sweep`` gives the exit code and, for a sweep, the table of its jobs.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from omegaconf import OmegaConf

from frozen_bench.config import (check_overrides, component_words, conf_dir, config_words, has, is_multirun, sweep_keys,
                                 sweep_points)
from frozen_bench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, UserError, is_user_error, one_line
from frozen_bench.launch import sweep
from frozen_bench.run import SWEEP_KEYS_ENV, app, check


def main(argv: list[str]) -> int:
    """``frozen-bench run ARGS``: the Hydra app with one-line errors and, for a sweep, a summary
    of every job at the end (exit 1 if any failed, 2 for bad input, 130 on Ctrl-C). ``-sc``
    (shell completion) is ``launch.completion``'s, not this."""
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
            from frozen_bench.launch import slurm

            slurm.install()  # job states without sacct where the cluster keeps no accounting
        keys = _sweep_keys(argv)
        if keys is not None:
            os.environ[SWEEP_KEYS_ENV] = json.dumps(keys)  # the workers inherit it
    sweep.begin()
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
        data = sys.modules.get("frozen_bench.data")  # never imported here (torch) just to release it
        if data is not None:
            data.release_kept_in_this_process()  # the in-process sweep's jobs kept their dataset
        if saved is None:
            os.environ.pop(SWEEP_KEYS_ENV, None)
        else:
            os.environ[SWEEP_KEYS_ENV] = saved
    return sweep.finish(code)


def _sweep_keys(argv: list[str]) -> list[str] | None:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return sweep_keys(argv)
    except (HydraException, OmegaConfBaseException):
        return None  # the line prefix is then the job number alone


def _composed(argv: list[str]) -> list[tuple[dict, dict]]:
    """The (resolved, pruned) config of a single run's command line; [] where it cannot be
    composed here (another config source: Hydra reports it)."""
    from hydra import compose, initialize_config_dir

    from frozen_bench.models import prune

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
    returns each point's (resolved, pruned) config (for ``no_effect``)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from frozen_bench.config import RESULTS_DIR
    from frozen_bench.models import prune
    from frozen_bench.record.store import check_writable

    configs: list[tuple[dict, dict]] = []
    folders: set[str] = set()  # the points' results folders: Hydra makes its sweep folder in each
    try:
        points = sweep_points(argv)
    except (HydraException, OmegaConfBaseException):
        return configs  # check_overrides has composed these overrides; anything left is Hydra's to report
    if not points:  # points not listed here (optuna, ranges): the folder named on the command line
        given = [w.split("=", 1)[1] for w in config_words(argv) if w.split("=", 1)[0].lstrip("+") == "results_dir"]
        check_writable(given[-1] if given else RESULTS_DIR)  # else Hydra's traceback, making its sweep folder
        return configs
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        for point in points:
            try:
                cfg = OmegaConf.to_container(compose("config", overrides=point), resolve=True)
            except (HydraException, OmegaConfBaseException):
                continue  # composing is check_overrides' part; the job reports what is left
            try:
                pruned = prune(cfg)
                check(pruned)
            except UserError as e:
                raise UserError(f"{e} [{' '.join(point)}]; no job of this sweep was started") from None
            except Exception:  # not bad input: the job itself will say what it is
                continue
            folders.add(str(cfg.get("results_dir", RESULTS_DIR)))
            if keep:
                configs.append((cfg, pruned))
    for folder in sorted(folders):  # once every point is valid: a bad one leaves no folder behind
        try:
            check_writable(folder)  # else Hydra's traceback, making its sweep folder there
        except UserError as e:
            raise UserError(f"{e}; no job of this sweep was started") from None
    return configs


def no_effect(words: list[tuple[str, str]], configs: list[tuple[dict, dict]]) -> list[str]:
    """One warning line per reason for the ``component_words`` that every composed config of the
    run (one, or each point of a sweep: (resolved, pruned) pairs) drops: a group its model does
    not read (``model=dense_mlp transform=dct``), an adapter key with ``adapter=none``. A word
    some point uses (``-m model=dense_mlp,frozen_mlp transform=dct``) is not warned about."""
    from frozen_bench.models import MODELS, reads

    by_model, by_adapter, models = [], [], {}  # models: name -> the groups it reads, where a word is dropped
    for word, key in words:
        seen = [(full, pruned) for full, pruned in configs if has(full, key)]
        if not seen or any(has(pruned, key) for _, pruned in seen):
            continue
        mine = {}
        for full, _ in seen:
            m = full.get("model") or {}
            mine[m.get("name")] = tuple(reads(m)) if m.get("name") in MODELS else ()
        group = key.split(".")[0]
        if any(group not in r for r in mine.values()):
            by_model.append((word, group))
            models.update({n: r for n, r in mine.items() if group not in r})
        else:
            by_adapter.append(word)  # the model reads the adapter group; adapter=none drops its keys
    lines = []
    if by_model:
        groups = list(dict.fromkeys(g for _, g in by_model))
        readers = {g: [n for n in MODELS if not callable(MODELS.entry(n).reads) and g in MODELS.entry(n).reads]
                   for g in groups}
        what = ", ".join(dict.fromkeys("/".join(r) for r in models.values() if r))
        one = len(by_model) == 1
        lines.append(f"{' '.join(w for w, _ in by_model)} {'has' if one else 'have'} no effect: "
                     f"model={','.join(str(n) for n in models)} reads no {'/'.join(groups)}"
                     + (f" (only {what})" if what else "") + "; "
                     f"drop {'it' if one else 'them'}, or choose a model that reads "
                     + "; ".join(f"{g} ({', '.join(readers[g])})" for g in groups))
    if by_adapter:
        one = len(by_adapter) == 1
        lines.append(f"{' '.join(by_adapter)} {'has' if one else 'have'} no effect with adapter=none; "
                     f"choose an adapter too (adapter=lora, bottleneck or conv1x1), or drop {'it' if one else 'them'}")
    return lines
