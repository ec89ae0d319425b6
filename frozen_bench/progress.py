"""What a run says while it works: the ``frozen_bench`` logger and the per-step progress.

``say`` is the default ``log`` of the runner: under Hydra it goes through the ``frozen_bench``
logger, so Hydra's job-logging config applies (the shipped one prints the bare message on
stdout, so each ``[frozen-bench] ...`` line reads as before); where nothing configured logging
(a notebook, a plain script) it prints, so the lines are never lost.

``Progress`` follows the steps of one ``fit``: a tqdm bar with rate and ETA on a terminal, and
plain ``[frozen-bench] step ...`` lines every ~10% of the steps or 30 s otherwise (CI, SLURM
logs, a pipe, parallel sweep workers). It only reads numbers the loop has already computed.
``FROZEN_BENCH_PROGRESS=bar|lines|off`` overrides the choice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

logger = logging.getLogger("frozen_bench")

ENV = "FROZEN_BENCH_PROGRESS"
_mode: str | None = None  # set by the Hydra edge for parallel sweep workers (lines, never bars)
_prefix = ""  # set by the Hydra edge in a parallel sweep worker: "[job 3 transform=dct seed=1]"


def say(msg: str) -> None:
    """One line: through the ``frozen_bench`` logger where logging is configured, else printed;
    in a parallel sweep worker it starts with the job's number and overrides (``set_prefix``),
    since the lines of several jobs interleave on one terminal."""
    if _prefix:
        msg = f"{_prefix} {msg}"
    if logger.hasHandlers():
        logger.info(msg)
    else:
        print(msg, flush=True)


def set_mode(mode: str | None) -> None:
    """``bar``, ``lines``, ``off`` or None (choose by the terminal)."""
    global _mode
    _mode = mode


def set_prefix(prefix: str) -> None:
    """What every ``say`` line of this job starts with ("" for none)."""
    global _prefix
    _prefix = prefix


def job_prefix(num, task: list[str], keys: list[str] | None) -> str:
    """``[job 3 transform=dct seed=1]``: the job's number and its values of the keys the sweep
    varies (``keys``; the job number alone where they are not known)."""
    keys = set(keys or ())
    own = [w for w in task if w.split("=", 1)[0].lstrip("+~") in keys]
    return "[" + " ".join([f"job {num}", *own]) + "]"


def mode() -> str:
    chosen = os.environ.get(ENV) or _mode
    if chosen in ("bar", "lines", "off"):
        return chosen
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "bar" if tty and _tqdm() is not None else "lines"


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Steps ``step``..``total`` of one fit; ``update(step, loss)`` after each optimizer step,
    ``write(log, line)`` for a line that must not tear the bar, ``close()`` at the end."""

    def __init__(self, total: int, start: int = 0, log=say, every_s: float = 30.0):
        self.total, self.log, self.every_s = max(int(total), 1), log, every_s
        self.kind = mode()
        if self.kind == "bar" and _tqdm() is None:
            self.kind = "lines"
        self.every = max(1, self.total // 10)
        self.t0 = self.last_t = time.perf_counter()
        self.start = self.last_step = int(start)
        self.bar = None
        if self.kind == "bar":
            self.bar = _tqdm()(total=self.total, initial=self.start, unit="step", file=sys.stderr,
                               dynamic_ncols=True, leave=False, desc="train")

    def update(self, step: int, loss: float | None = None, epoch: int | None = None) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if loss is not None and (step % 10 == 0 or step == self.total):
                self.bar.set_postfix_str(f"epoch {epoch} loss {loss:.4g}" if epoch else f"loss {loss:.4g}", refresh=False)
            return
        if self.kind != "lines" or step >= self.total:
            return  # the last step is followed by the epoch line
        now = time.perf_counter()
        if step % self.every and now - self.last_t < self.every_s:
            return
        self.last_t = now
        rate = (step - self.start) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        shown = f" loss={loss:.4g}" if loss is not None else ""
        self.log(f"[frozen-bench] step {step}/{self.total} ({100 * step / self.total:.0f}%){shown} "
                 f"{rate:.1f} steps/s, eta {_seconds(eta)}")

    def write(self, log, line: str) -> None:
        if self.bar is None:
            log(line)
            return
        with self._quiet():
            log(line)

    @contextlib.contextmanager
    def _quiet(self):
        # clears the bar, lets the line through, draws the bar again below it
        with self.bar.external_write_mode(file=sys.stderr):
            yield

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _seconds(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
