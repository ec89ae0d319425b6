"""Job states of a SLURM sweep on a cluster without accounting.

submitit (``hydra/launcher=submitit_slurm``) asks ``sacct`` for the state of its jobs. Where the
cluster keeps no accounting (``AccountingStorageType=accounting_storage/none``, common on small
clusters), every call prints "Slurm accounting storage is disabled" and a submitit warning, twice a
poll, and a job that ends without a result (``scancel``, a node lost) stays UNKNOWN: the sweep
waits for it forever. ``install()`` gives submitit a watcher that tries ``sacct`` once and, if it
fails, asks ``squeue --states=all`` instead (the controller keeps a finished job for
``MinJobAge``, 300 s by default), quietly. A cluster with accounting is unchanged.

A job that ends without a result (CANCELLED, TIMEOUT, NODE_FAIL) makes submitit raise
``UncompletedJobError`` in the launching process, which stops the sweep with a traceback and no
summary. ``install()`` also turns that into the job's outcome note (status failed, the SLURM state
and the fix in one line), so the sweep's summary counts it and the exit code is 1.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

log = logging.getLogger("frozen_bench")


def _watcher_class():
    from submitit.slurm.slurm import SlurmInfoWatcher

    class QueueWatcher(SlurmInfoWatcher):
        source: str | None = None  # "sacct" or "squeue", chosen at the first poll

        def _make_command(self):
            command = super()._make_command()
            if command is None:
                return None
            if self.source is None:
                ok = _quiet(command).returncode == 0
                self.source = "sacct" if ok else "squeue"
                if not ok:
                    log.debug("slurm: sacct unavailable (no accounting?); job states from squeue")
            if self.source == "sacct":
                return command
            ids = sorted({x.split("_")[0] for x in self._registered - self._finished})
            return ["squeue", "--noheader", "--states=all", "--format=%i|%T|%N", "--jobs=" + ",".join(ids)]

        def read_info(self, string):
            if self.source == "squeue":
                string = "JobID|State|NodeList\n" + (string.decode() if isinstance(string, bytes) else string)
            return super().read_info(string)

        def update(self) -> None:  # submitit's, with the command's stderr kept out of the log
            command = self._make_command()
            if command is None:
                return
            self._num_calls += 1
            p = _quiet(command)
            if p.returncode == 0:
                self._output = p.stdout
                self._info_dict.update(self.read_info(p.stdout))
            else:
                log.debug("slurm: %s failed (%s); states unchanged this poll", command[0], p.stderr.decode(errors="replace").strip())
            self._last_status_check = time.time()
            for job_id in self._registered - self._finished:
                if self.is_done(job_id, mode="cache"):
                    self._finished.add(job_id)

    return QueueWatcher


def _quiet(command):
    try:
        return subprocess.run(command, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(command, 1, b"", str(e).encode())


def lost_job(job, error: Exception):
    """The outcome of a job that ended without a result: a failed note in its sweep job folder
    (what the summary reads) and a Hydra job return with no value, so the sweep goes on."""
    import math

    from hydra.core.utils import JobReturn, JobStatus

    from frozen_bench.run import JOB_NOTE, write_note

    overrides, idx, folder = [], None, None
    try:
        sub = job.submission()  # (overrides, "hydra.sweep.dir", idx, job id name, hydra state)
        overrides, idx = list(sub.args[0]), int(sub.args[2])
        folder = Path(str(sub.function.config.hydra.sweep.dir)) / str(idx)
    except Exception as e:  # no pickle to read: the summary then lacks this job, the exit code stays 1
        log.debug("slurm: cannot read job %s's submission (%s)", getattr(job, "job_id", "?"), e)
    state = getattr(job, "state", "UNKNOWN")
    reason = (f"SLURM job {job.job_id} ended {state} without a result (scancel, time limit or a lost node); "
              "re-run the sweep to resume it")
    if folder is not None:
        write_note(folder / JOB_NOTE, {"signature": None, "status": "failed", "error": reason,
                                       "label": " ".join(overrides), "job": idx})
    return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=math.nan)


def _keep_sweeping_past_lost_jobs() -> None:
    from submitit.core import core, utils

    if getattr(core.Job.results, "_frozen_bench", False):
        return
    results = core.Job.results

    def results_or_lost(self):
        try:
            return results(self)
        except utils.UncompletedJobError as e:
            return [lost_job(self, e)]

    results_or_lost._frozen_bench = True
    core.Job.results = results_or_lost


def install() -> bool:
    """Give submitit's SLURM jobs the watcher above, and lost jobs an outcome; False where submitit
    is not installed (or is a version whose watcher this does not know)."""
    try:
        from submitit.slurm.slurm import SlurmJob

        cls = _watcher_class()
        _keep_sweeping_past_lost_jobs()
    except ImportError:
        return False
    if not all(hasattr(SlurmJob.watcher, a) for a in ("_registered", "_finished", "_info_dict", "_num_calls")):
        return False
    if not isinstance(SlurmJob.watcher, cls.__mro__[1]) or type(SlurmJob.watcher).__name__ != "QueueWatcher":
        SlurmJob.watcher = cls(delay_s=SlurmJob.watcher._delay_s)
    return True
