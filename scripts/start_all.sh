#!/usr/bin/env bash
# Web + worker(s) in one container: for platforms where a volume attaches to one service
# only (Railway), so the worker that writes model versions and the web process that serves
# them see the same /app/trained_models. If any process exits, the others are stopped and
# the container exits with its status (the platform restarts it).
set -uo pipefail
pids=()
python manage.py qcluster & pids+=($!)
if [ "${START_TRAINING_WORKER:-0}" = "1" ]; then
  Q_CLUSTER_NAME=training python manage.py qcluster & pids+=($!)
fi
gunicorn therapist_ai.asgi:application -c gunicorn.conf.py & pids+=($!)
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
wait -n
status=$?
kill -TERM "${pids[@]}" 2>/dev/null
wait
exit "$status"
