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

processes=(web worker)
flag() {  # flag NAME VALUE PROCESS: add PROCESS when the boolean VALUE is on
  case "${2,,}" in
    1|true|yes|on) processes+=("$3") ;;
    0|false|no|off|"") ;;
    *) echo "start_all.sh: $1 must be a boolean (1/0, true/false, yes/no, on/off), got '$2'" >&2; exit 2 ;;
  esac
}
flag START_TRAINING_WORKER "${START_TRAINING_WORKER:-0}" training
flag START_INFERENCE "${START_INFERENCE:-0}" inference
# No .env file (-e /dev/null): the platform's environment is the whole configuration.
exec honcho start -e /dev/null -f Procfile -p "$PORT" "${processes[@]}"
