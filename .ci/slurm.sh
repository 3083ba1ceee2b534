#!/usr/bin/env bash
# A single-node SLURM "cluster" on this machine (Debian 12, root, no systemd) for the workflow's SLURM test.
#
#   .ci/slurm.sh up     # apt-get install munge slurmctld slurmd slurm-client (if missing), write
#                       # /etc/slurm/slurm.conf, start munged, slurmctld, slurmd; prints `sinfo`
#   .ci/slurm.sh down   # stop the daemons started by `up` (by their pid files)
#
# `up` exits 3 with one line "SKIP: <reason>" when this machine cannot have SLURM (not root, no apt-get, install
# failed); the test turns that into a skip with the reason (or a failure under SLURM_TESTS_REQUIRED=1). Daemons that
# are installed but do not come up are this script's fault: exit 1, and the test fails. State, logs and pid files: $SLURM_CI_BASE (/tmp/ci-slurm).
# The node declares one fake GPU (gres.conf File=/dev/null), so `resources: gpu=1` -> `sbatch --gpus=1` is
# scheduled for real (the job sees CUDA_VISIBLE_DEVICES=0; torch finds no CUDA device and trains on the CPU).
#
# Traps (each one cost a failed run):
# * slurm.conf must sit at the compiled-in path /etc/slurm/slurm.conf: the jobstep plugin strips every SLURM_*
#   variable (SLURM_CONF included) before its nested `srun`, which then finds no configuration and fails.
# * No slurmdbd here, so `sacct` answers "accounting storage is disabled": the profile must use
#   `slurm-status-command: squeue` (otherwise Snakemake waits forever), and finished jobs must stay visible to
#   squeue long enough: MinJobAge=300 (>= 3 x slurm-init-seconds-before-status-checks).
# * Do not set slurm_account without slurmdbd: the plugin checks it with sacctmgr and fails.
# * A GPU gres without a device file makes slurmd report 0 GPUs and the node goes INVAL; /dev/null works.
# * The Debian postinst scripts try to start the daemons through invoke-rc.d; without systemd that is refused
#   (harmless) and we start them by hand. A node left DRAIN/INVAL by an earlier config is resumed explicitly.
# * RealMemory must not exceed what `slurmd -C` reports; we advertise 80 % of MemTotal.
set -euo pipefail

BASE=${SLURM_CI_BASE:-/tmp/ci-slurm}
RUN=$BASE/run LOG=$BASE/log STATE=$BASE/state ETC=/etc/slurm
CPUS=$(nproc)
MEM_MB=$(( $(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo) * 8 / 10 ))
export DEBIAN_FRONTEND=noninteractive

say() { echo "[slurm.sh $(date +%T)] $*"; }
skip() { echo "SKIP: $*"; exit 3; }
fail() { echo "FAIL: $*"; exit 1; }
wait_for() {  # wait_for <seconds> <command...>
  local n=$1; shift
  for _ in $(seq 1 $((n * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  say "timeout waiting for: $*"; return 1
}

install() {
  [ "$(id -u)" = 0 ] || skip "not root (needs apt-get install and root daemons)"
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
      && command -v munged >/dev/null; then return 0; fi
  command -v apt-get >/dev/null || skip "no apt-get on this machine (Debian packages munge slurmctld slurmd slurm-client)"
  say "apt-get install munge slurmctld slurmd slurm-client"
  local pkgs=(munge slurmctld slurmd slurm-client)
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
      || skip "apt-get install ${pkgs[*]} failed (no package mirror?)"
  }
}

config() {
  mkdir -p "$RUN" "$LOG" "$STATE/ctld" "$STATE/d" "$ETC"
  chown slurm:slurm "$STATE/ctld" "$LOG" "$RUN"
  chmod 755 "$LOG" "$RUN"
  echo "NodeName=localhost Name=gpu File=/dev/null" > "$ETC/gres.conf"
  cat > "$ETC/slurm.conf" <<EOF
# written by .ci/slurm.sh (CI only)
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
GresTypes=gpu
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
}

start() {
  if scontrol ping >/dev/null 2>&1 && sinfo -h -N -o %t | grep -qE "^(idle|mix|alloc)"; then
    say "SLURM already up"; return 0
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null \
    || runuser -u munge -- /usr/sbin/munged
  wait_for 10 sh -c 'munge -n | unmunge' || fail "munged did not start"
  /usr/sbin/slurmctld
  wait_for 20 scontrol ping || { tail -5 "$LOG/slurmctld.log"; fail "slurmctld did not start"; }
  /usr/sbin/slurmd -N localhost
  wait_for 30 sh -c 'sinfo -h -N -o %t | grep -qE "^(idle|mix|alloc)"' || {
    scontrol update nodename=localhost state=resume || true
    wait_for 20 sh -c 'sinfo -h -N -o %t | grep -q idle' || { tail -5 "$LOG/slurmd.log"; fail "node not idle"; }
  }
  sinfo
}

down() {
  local f p
  for f in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
    [ -s "$f" ] || continue
    p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null; then kill "$p"; say "stopped $p ($f)"; fi
  done
}

case "${1:-}" in
  up) install; config; start ;;
  down) down ;;
  *) echo "usage: $0 up|down"; exit 2 ;;
esac
