"""Job states of a SLURM sweep on a cluster without accounting.

submitit (``hydra/launcher=submitit_slurm``) asks ``sacct`` for the state of its jobs. Where the
cluster keeps no accounting (``AccountingStorageType=accounting_storage/none``, common on small
clusters), every call prints "Slurm accounting storage is disabled" and a submitit warning, twice a
poll, and a job that ends without a result (``scancel``, a node lost) stays UNKNOWN: the sweep
waits for it forever. ``install()`` gives submitit a watcher that tries ``sacct`` once and, if it
fails, asks ``squeue --states=all`` instead (the controller keeps a finished job for
``MinJobAge``, 300 s by default), quietly. A cluster with accounting is unchanged.
"""

from __future__ import annotations

import logging
import subprocess
import time

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


def install() -> bool:
    """Give submitit's SLURM jobs the watcher above; False where submitit is not installed (or is a
    version whose watcher this does not know)."""
    try:
        from submitit.slurm.slurm import SlurmJob

        cls = _watcher_class()
    except ImportError:
        return False
    if not all(hasattr(SlurmJob.watcher, a) for a in ("_registered", "_finished", "_info_dict", "_num_calls")):
        return False
    if not isinstance(SlurmJob.watcher, cls.__mro__[1]) or type(SlurmJob.watcher).__name__ != "QueueWatcher":
        SlurmJob.watcher = cls(delay_s=SlurmJob.watcher._delay_s)
    return True
