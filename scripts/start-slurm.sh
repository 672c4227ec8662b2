#!/usr/bin/env bash
# Start a real single-node SLURM on this machine (Debian's slurmctld/slurmd/munge, Slurm 22.05+),
# for the SLURM test and for trying `--profile workflow/profiles/slurm` without a cluster.
#
#   bash scripts/start-slurm.sh [STATE_DIR]      # default /tmp/wganbench-slurm
#   source STATE_DIR/env.sh                      # SLURM_CONF for sbatch/squeue/sacct/snakemake
#   bash scripts/stop-slurm.sh [STATE_DIR]
#
# One node with this machine's CPUs and ~90% of its memory, no cgroups (proctrack/linuxproc,
# task/none), every state/log/PID/socket file under STATE_DIR. With slurmdbd and mariadbd
# installed (the default in .ci/run) it also runs accounting, so `sacct` works as on a real
# cluster and the Snakemake SLURM plugin can poll job status (without it the plugin loses
# finished jobs: see workflow/profiles/slurm/config.yaml). WGANBENCH_SLURM_NO_DBD=1 skips it;
# then use `--slurm-status-command squeue` (MinJobAge=600 keeps finished jobs visible).
# Needs root (the daemons run as root/munge); links /etc/slurm/slurm.conf to STATE_DIR's config
# (stop-slurm.sh removes the link). Prints the PIDs it started; exits 0 when `sinfo`
# shows the node idle, non-zero with the failing daemon's log otherwise.
set -euo pipefail

STATE=${1:-/tmp/wganbench-slurm}
mkdir -p "$STATE"/{log,spool,state,munge,munge-socket,run}
STATE=$(cd "$STATE" && pwd)
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(free -m | awk '/^Mem:/ {print $2}') * 9 / 10 ))
USE_DBD=1
if [ "${WGANBENCH_SLURM_NO_DBD:-0}" = 1 ] || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  USE_DBD=0
fi

need() { command -v "$1" >/dev/null || { echo "start-slurm: $1 not found; apt-get install munge slurmctld slurmd slurm-client" >&2; exit 3; }; }
for tool in munged slurmctld slurmd sinfo scontrol; do need "$tool"; done
[ "$(id -u)" = 0 ] || { echo "start-slurm: run as root (the daemons need it)" >&2; exit 3; }

wait_for() {  # wait_for SECONDS DESCRIPTION LOGFILE COMMAND...
  local limit=$1 what=$2 log=$3; shift 3
  for _ in $(seq $((limit * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "start-slurm: $what did not come up in ${limit}s; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
}

# --- munge ---------------------------------------------------------------------------------------
SOCKET="$STATE/munge-socket/munge.socket"  # its folder must be world-searchable
if [ ! -f "$STATE/munge/munge.key" ]; then
  dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
fi
chown -R munge:munge "$STATE/munge" "$STATE/munge-socket"
chmod 755 "$STATE" "$STATE/munge-socket"
runuser -u munge -- test -x "$STATE/munge-socket" || {
  echo "start-slurm: user munge cannot reach $STATE (a private parent folder?); use a folder under /tmp" >&2; exit 3; }
chmod 700 "$STATE/munge"
chmod 400 "$STATE/munge/munge.key"
runuser -u munge -- munged --key-file="$STATE/munge/munge.key" --socket="$SOCKET" \
  --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed"
wait_for 10 munged "$STATE/munge/munged.log" test -S "$SOCKET"

# --- accounting: mariadb + slurmdbd (it reads slurmdbd.conf beside $SLURM_CONF) ----------------
ACCOUNTING="AccountingStorageType=accounting_storage/none"
if [ "$USE_DBD" = 1 ]; then
  DB="$STATE/mysql"
  if [ ! -d "$DB/mysql" ]; then
    mysql_install_db --user=root --datadir="$DB" --auth-root-authentication-method=normal >"$STATE/log/mysql-install.log" 2>&1
  fi
  mariadbd --user=root --datadir="$DB" --socket="$STATE/run/mysqld.sock" --port=3307 --bind-address=127.0.0.1 \
    --pid-file="$STATE/run/mysqld.pid" --log-error="$STATE/log/mysqld.log" --skip-grant-tables >/dev/null 2>&1 &
  echo $! >"$STATE/run/mariadbd.pid"
  wait_for 30 mariadbd "$STATE/log/mysqld.log" test -S "$STATE/run/mysqld.sock"
  cat >"$STATE/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=root
StorageLoc=slurm_acct_db
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
EOF
  chmod 600 "$STATE/slurmdbd.conf"
  SLURM_CONF="$STATE/slurm.conf" slurmdbd -D >>"$STATE/log/slurmdbd.log" 2>&1 &
  echo $! >"$STATE/run/slurmdbd.pid"
  wait_for 30 slurmdbd "$STATE/log/slurmdbd.log" bash -c "exec 3<>/dev/tcp/127.0.0.1/6819"
  ACCOUNTING="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoragePass=$SOCKET
JobAcctGatherType=jobacct_gather/linux"
fi

# --- slurm.conf ----------------------------------------------------------------------------------
cat >"$STATE/slurm.conf" <<EOF
ClusterName=wganbench
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=600
ReturnToService=2
MailProg=/bin/true
SchedulerType=sched/backfill
$ACCOUNTING
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
echo "export SLURM_CONF=$STATE/slurm.conf" >"$STATE/env.sh"
export SLURM_CONF="$STATE/slurm.conf"
# Job steps must find the config without SLURM_CONF: Snakemake's jobstep executor strips SLURM_*
# from the environment of the `srun` it runs inside each job, so srun falls back to
# /etc/slurm/slurm.conf, as on a real cluster. Link it there unless another config lives there.
SYSTEM_CONF=/etc/slurm/slurm.conf
if [ -e "$SYSTEM_CONF" ] && [ ! -L "$SYSTEM_CONF" ]; then
  echo "start-slurm: $SYSTEM_CONF exists and is not ours; job steps would use it instead of $SLURM_CONF" >&2
  exit 2
fi
mkdir -p /etc/slurm
ln -sfn "$SLURM_CONF" "$SYSTEM_CONF"

slurmctld -D -i -f "$SLURM_CONF" >>"$STATE/log/slurmctld.out" 2>&1 &
echo $! >"$STATE/run/slurmctld.daemon.pid"
wait_for 30 slurmctld "$STATE/log/slurmctld.log" scontrol ping
if [ "$USE_DBD" = 1 ]; then  # accounts the plugin's `sbatch -A` can name
  sacctmgr -i add cluster wganbench >/dev/null 2>&1 || true
  sacctmgr -i add account wganbench Cluster=wganbench >/dev/null 2>&1 || true
  sacctmgr -i add user root Account=wganbench DefaultAccount=wganbench >/dev/null 2>&1 || true
fi
slurmd -D -f "$SLURM_CONF" >>"$STATE/log/slurmd.out" 2>&1 &
echo $! >"$STATE/run/slurmd.daemon.pid"
wait_for 60 "slurmd (node idle)" "$STATE/log/slurmd.log" bash -c "sinfo -h -o %T | grep -q idle"

echo "SLURM is up: SLURM_CONF=$SLURM_CONF accounting=$([ "$USE_DBD" = 1 ] && echo slurmdbd || echo none)"
echo "PIDs: munged $(cat "$STATE/munge/munged.pid") slurmctld $(cat "$STATE/run/slurmctld.daemon.pid") slurmd $(cat "$STATE/run/slurmd.daemon.pid")" \
  "$([ "$USE_DBD" = 1 ] && echo "mariadbd $(cat "$STATE/run/mariadbd.pid") slurmdbd $(cat "$STATE/run/slurmdbd.pid")")"
