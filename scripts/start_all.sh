#!/usr/bin/env bash
# Web + worker (+ the training worker with START_TRAINING_WORKER=1) in one container, under
# honcho over the Procfile's processes: for platforms where a volume attaches to one service
# only (Railway), so the worker that writes model versions and the web process that serves
# them see the same /app/trained_models. The image's default command (Dockerfile CMD).
#
# honcho stops everything on SIGTERM/SIGINT (`docker stop`) and, when any process exits,
# stops the rest and exits with that process's status (the platform restarts the container);
# scripts/procgroup.sh, in each Procfile line, stops what a process forked. `release`
# (migrate) is not run here: the platform's pre-deploy/release step runs it once per deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PORT=${PORT:-8000}  # honcho gives the first process (web) this port

training=${START_TRAINING_WORKER:-0}
case "${training,,}" in
  1|true|yes|on) processes=(web worker training) ;;
  0|false|no|off|"") processes=(web worker) ;;
  *) echo "start_all.sh: START_TRAINING_WORKER must be a boolean (1/0, true/false, yes/no, on/off), got '$START_TRAINING_WORKER'" >&2
     exit 2 ;;
esac
# No .env file (-e /dev/null): the platform's environment is the whole configuration.
exec honcho start -e /dev/null -f Procfile -p "$PORT" "${processes[@]}"
