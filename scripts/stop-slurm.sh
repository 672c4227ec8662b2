#!/usr/bin/env bash
# Stop what scripts/start-slurm.sh started, by the PIDs it recorded in STATE_DIR (nothing else).
#   bash scripts/stop-slurm.sh [STATE_DIR]     # default /tmp/wganbench-slurm
set -uo pipefail

STATE=${1:-/tmp/wganbench-slurm}
[ -d "$STATE" ] || exit 0
for pidfile in run/slurmd.daemon.pid run/slurmctld.daemon.pid run/slurmdbd.pid run/mariadbd.pid munge/munged.pid; do
  file="$STATE/$pidfile"
  [ -f "$file" ] || continue
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
done
# the /etc/slurm/slurm.conf link start-slurm.sh made, if it still points here
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$(cd "$STATE" && pwd)/slurm.conf" ]; then
  rm -f /etc/slurm/slurm.conf
fi
echo "SLURM in $STATE stopped"
