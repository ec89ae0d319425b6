"""``frozen-bench run-lines -j N``: a stage's runs, one ``frozen-bench run`` override line each on
stdin, in N long-lived worker processes.

Why not one process per line (``xargs -P N frozen-bench run``): a fresh process pays about 4 s
before its first step (torch, Hydra and matplotlib imports, then a rescan of the whole results
folder for all.csv). The final stages of ``scripts/fair.sh`` train ~200 runs of 1-10 s each, so
start-up was a third of their time. A worker here imports once and trains line after line; all.csv
is refreshed once, after the last run. Each run is composed with Hydra's compose API exactly as
``frozen-bench run`` composes it, so its signature and record are the same as that command's
(``command`` and ``overrides`` name the line), and it is seeded from its own config alone: a run
computes the same numbers whichever worker ran what before it (tests/launch/test_run_lines.py).

Lines with a finished record are skipped first, in one pass (``launch.pending``). A line that
fails (bad input, a crash) is reported with its number and the others go on; the exit code is 1 if
any failed, 2 if every failure was bad input, 130 on Ctrl-C (finished records stay; run again to
resume).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from frozen_bench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED


def _init_worker(threads: int) -> None:
    """Each worker: plain progress lines (several jobs share the terminal), and torch's threads
    split between the workers where a line does not set trainer.threads."""
    import os

    from frozen_bench import progress

    progress.set_mode("lines")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from frozen_bench.data import keep_loaded_in_this_process

    keep_loaded_in_this_process()  # its lines share their datasets: each decoded once per worker


def _compose(words: list[str]) -> dict:
    """The resolved config of one line, as ``frozen-bench run`` would compose it; a line Hydra
    cannot compose is the pre-check's one clear error (``config.check_overrides``)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from frozen_bench.config import check_overrides, conf_dir
    from frozen_bench.errors import UserError

    try:
        with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
            return OmegaConf.to_container(compose("config", overrides=words), resolve=True)
    except Exception as e:  # noqa: BLE001 - say what is wrong in the words the user typed
        check_overrides(words)
        raise UserError(f"cannot compose this line ({' '.join(str(e).split())[:200]})") from None


def _run(num: int, line: str) -> dict:
    """One line in this worker (``num``: its line number in the input): its number, exit code,
    status, signature and results folder."""
    from frozen_bench import progress
    from frozen_bench.errors import is_user_error, one_line
    from frozen_bench.launch.pending import line_words
    from frozen_bench.run import run_job

    progress.set_prefix(f"[line {num}]")
    try:
        words = line_words(line)  # main checked them; a worker never stops on a line's words
        cfg = _compose(words)
    except Exception as e:  # noqa: BLE001
        print(f"[line {num}] frozen-bench run-lines: error: {one_line(e)}", file=sys.stderr, flush=True)
        return {"num": num, "code": EXIT_BAD_INPUT if is_user_error(e) else EXIT_FAILED, "status": "failed",
                "results_dir": None}
    code, m = run_job(cfg, multirun=True, label=line, collect=False, words=words)
    return {"num": num, "code": code, "status": "failed" if code else ("skipped" if m.get("skipped") else m.get("status")),
            "signature": m.get("signature"), "results_dir": str(cfg.get("results_dir", "results"))}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="frozen-bench run-lines",
        description="Run `frozen-bench run` override lines (one run per line) read on stdin, N at a time in N "
                    "long-lived worker processes; lines with a finished record are skipped, all.csv is refreshed "
                    "once at the end.")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    a = p.parse_args(argv)
    if a.jobs < 1:
        p.error(f"--jobs must be at least 1 (got {a.jobs})")
    from frozen_bench.launch.pending import pending
    from frozen_bench.train.threads import available_cores

    lines = [line.strip() for line in sys.stdin]
    bad: list[tuple[int, str]] = []  # lines that are no run line: named here, the others still run
    todo, n = pending(lines, errors=bad)
    for num, msg in bad:
        print(f"[line {num}] frozen-bench run-lines: error: {msg} [{lines[num - 1]}]", file=sys.stderr, flush=True)
    started = time.time()
    if bad and not todo:
        return EXIT_BAD_INPUT
    print(f"[frozen-bench] run-lines: {len(todo)} of {n - len(bad)} runs have no finished record; "
          f"{min(a.jobs, max(1, len(todo)))} worker(s)", file=sys.stderr, flush=True)
    if not todo:
        return 0
    jobs = min(a.jobs, len(todo))
    outcomes: list[dict] = []
    # spawn, not fork: each worker starts its own torch (a forked parent's thread pools misbehave)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(max(1, available_cores() // jobs),))
    code = 0
    try:
        futures = [pool.submit(_run, num, line) for num, line in _numbered(lines, todo)]
        said = started
        for fut in as_completed(futures):
            outcomes.append(fut.result())
            said = _progress(outcomes, len(todo), started, said)
    except KeyboardInterrupt:
        print("frozen-bench run-lines: interrupted; finished records are intact, run again to resume", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as e:  # a worker died (killed, out of memory): the records it finished stay
        from frozen_bench.errors import one_line

        print(f"frozen-bench run-lines: error: a worker stopped ({one_line(e)}); finished records are intact, "
              f"run again to resume", file=sys.stderr)
        code = EXIT_FAILED
    finally:
        pool.shutdown(wait=code == 0, cancel_futures=True)
        _collect({o["results_dir"] for o in outcomes if o.get("results_dir")})
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[str(o["status"])] = counts.get(str(o["status"]), 0) + 1
    print(f"[frozen-bench] run-lines: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
          + f" of {len(todo)} in {time.time() - started:.0f} s", file=sys.stderr)
    outcomes += [{"num": num, "code": EXIT_BAD_INPUT, "status": "failed"} for num, _ in bad]
    failed = sorted(o["num"] for o in outcomes if o["code"])
    if failed:
        print(f"[frozen-bench] run-lines: failed input lines: {', '.join(map(str, failed))}", file=sys.stderr)
    if code:
        return code
    if failed:
        return EXIT_BAD_INPUT if all(o["code"] == EXIT_BAD_INPUT for o in outcomes if o["code"]) else EXIT_FAILED
    return 0


def _numbered(lines: list[str], todo: list[str]) -> list[tuple[int, str]]:
    """(input line number, line) of each line to do: ``pending`` keeps the input's order."""
    out, it = [], iter(enumerate(lines, start=1))
    for line in todo:
        out.append(next((num, line) for num, given in it if given == line))
    return out


def _progress(outcomes: list[dict], total: int, started: float, said: float) -> float:
    """A count with the time left, every ~10% of the runs or 60 s (the per-run lines of two workers
    interleave; this says where the whole stage is); returns when it last spoke."""
    now, done = time.time(), len(outcomes)
    if done < total and now - said < 60 and done % max(1, total // 10):
        return said
    failed = sum(1 for o in outcomes if o["code"])
    left = (now - started) / done * (total - done)
    print(f"[frozen-bench] run-lines: {done} of {total} done" + (f" ({failed} failed)" if failed else "")
          + f", {now - started:.0f} s" + (f", about {left:.0f} s left" if done < total else ""), file=sys.stderr, flush=True)
    return now


def _collect(folders: set[str]) -> None:
    from frozen_bench.record.table import update_all_csv

    for folder in sorted(folders):
        try:
            update_all_csv(folder)
        except OSError as e:
            print(f"frozen-bench run-lines: warning: all.csv in {folder} not refreshed ({e}); "
                  f"run `frozen-bench collect --results-dir {folder}`", file=sys.stderr)
