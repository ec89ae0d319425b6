#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/launch/test_slurm.py (needs root and the Debian
# packages slurm-wlm and munge): this host is controller and only node (2 CPUs, partition `debug`),
# no accounting, state and spool in DIR. Prints the `export SLURM_CONF=...` line to use it.
#
#   scripts/slurm_local.sh start [DIR]   start munged, slurmctld, slurmd (or reuse the running ones)
#   scripts/slurm_local.sh stop [DIR]    cancel its jobs, stop the slurmctld and slurmd `start` started in DIR
#
# DIR defaults to /tmp/frozen-bench-slurm.
set -euo pipefail
cmd=${1:-start}
dir=${2:-/tmp/frozen-bench-slurm}
conf=$dir/slurm.conf
host=$(hostname -s)
cpus=$(nproc)

die() { echo "slurm_local: $*" >&2; exit 1; }

up() { SLURM_CONF=$conf timeout 5 sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

if [ "$cmd" = stop ]; then
  SLURM_CONF=$conf timeout 10 scancel --quiet --partition=debug 2>/dev/null || true  # no job outlives its cluster
  sleep 1
  for d in slurmd slurmctld; do
    [ -f "$dir/$d.pid" ] && kill "$(cat "$dir/$d.pid")" 2>/dev/null || true
  done
  exit 0
fi
[ "$cmd" = start ] || die "usage: $0 start|stop [DIR]"
[ "$(id -u)" = 0 ] || die "needs root"
for b in munged slurmctld slurmd sbatch; do command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found (apt-get install slurm-wlm munge)"; done

if [ -f "$conf" ] && up; then  # already running: reuse it
  echo "slurm_local: reusing the cluster of $conf" >&2
  echo "export SLURM_CONF=$conf"
  exit 0
fi

# munge: the key the package made, else a new one; the daemon as the munge user
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

mkdir -p "$dir/state" "$dir/spool"
cat >"$conf" <<EOF
ClusterName=frozenbench
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf
slurmctld -f "$conf" -i   # -i: ignore a stale state
slurmd -f "$conf"
for _ in $(seq 100); do up && break; sleep 0.2; done
up || { tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2; die "the cluster did not come up (logs in $dir)"; }
echo "slurm_local: started slurmctld and slurmd ($conf)" >&2
echo "export SLURM_CONF=$conf"
