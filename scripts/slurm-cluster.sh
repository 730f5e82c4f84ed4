#!/usr/bin/env bash
# A real single-node Slurm cluster in a folder, for tests: Debian's munge, slurmctld and slurmd
# (scripts/setup.sh installs them), this machine's CPUs and memory, no accounting.
#
#   scripts/slurm-cluster.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf` when the node is idle
#   scripts/slurm-cluster.sh stop DIR
#
# Everything lives in DIR (key, sockets, state, logs) and the daemons listen on ports of their
# own, so it touches no system-wide Slurm set-up. A machine where it cannot start (no packages,
# no permission to run the daemons) gets one line on stderr and exit status 3, which the tests
# report as a skip with that line.
set -euo pipefail

action="${1:-}"
dir="${2:-}"
if [ -z "$action" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

stop() {
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  # Wait for them to go, so a next start finds its ports free.
  for _ in $(seq 50); do
    alive=0
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
      if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then alive=1; fi
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  rm -f "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi
if [ "$action" != start ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

cannot() {
  echo "slurm: cannot start a single-node cluster here: $*" >&2
  stop
  exit 3
}

for tool in munged slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$tool" >/dev/null || cannot "\`$tool\` is not installed (scripts/setup.sh installs slurmctld, slurmd, slurm-client and munge)"
done
[ "$(id -u)" = 0 ] || cannot "the daemons run as root here (SlurmUser=root), and this is user $(id -un)"

stop
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir/munge"
if [ ! -f "$dir/munge/munge.key" ]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
  chmod 600 "$dir/munge/munge.key"
fi
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/seed" --force 2>"$dir/log/munged.err" || cannot "munged: $(tail -1 "$dir/log/munged.err")"

host="$(hostname -s)"
cpus="$(nproc)"
# What slurmd reports, less a margin: a node configured with more memory than it has is drained.
mem_mb=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
# Ports of this cluster's own (not 6817/6818), picked from the folder so two clusters differ.
base=$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 ))
cat > "$dir/slurm.conf" <<EOF
ClusterName=benchtop
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$base
SlurmdPort=$(( base + 1 ))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# What a container allows: no cgroups, no accounting daemon.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
# Finished jobs stay visible to squeue/scontrol for a while, so their end can be read.
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" 2>"$dir/log/slurmctld.err" || cannot "slurmctld: $(tail -1 "$dir/log/slurmctld.err")"
slurmd -f "$SLURM_CONF" 2>"$dir/log/slurmd.err" || cannot "slurmd: $(tail -1 "$dir/log/slurmd.err")"
for _ in $(seq 100); do
  if [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
# The daemons started but the node never came up: a real failure, not a machine without Slurm.
echo "slurm: the node did not become idle within 20 s ($(sinfo -h -o '%t %E' 2>&1 | head -1); see $dir/log)" >&2
stop
exit 1
