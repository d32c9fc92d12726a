#!/usr/bin/env bash
# Run web (uvicorn, ASGI) and the django-q2 worker together; Ctrl-C stops them all.
# Called by `make run` after install/migrate/collectstatic/setup_roles.
#
# With no GROQ_API_KEY and DEBUG=1 it also starts the development responder (a fake Groq
# upstream on loopback, conversations/fake_groq.py) and points the real Groq client at it.
# That never happens with DEBUG=0: production without a key fails loudly instead.
# If any process exits, the others are stopped and this script exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
export DEBUG=${DEBUG:-1}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
DEV_RESPONDER_PORT=${DEV_RESPONDER_PORT:-8765}

is_true() { case "${1,,}" in 1|true|yes|on) return 0 ;; *) return 1 ;; esac; }

PIDS=()
NAMES=()
# Each child runs in its own session and process group (setsid; its pid is the group id), so
# stopping a child stops everything it spawned too: the django-q2 cluster forks a sentinel,
# workers and a monitor that would outlive a killed parent and keep taking tasks.
start() {  # start NAME COMMAND...: run in the background, remember its pid (= its group)
  local name=$1; shift
  setsid "$@" &
  PIDS+=($!)
  NAMES+=("$name")
  echo "run.sh: started $name (pid $!)"
}

alive_count() {
  local n=0 pid
  for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && n=$((n + 1)); done
  echo "$n"
}

stopping=0
stop_all() {  # stop every child's process group: SIGTERM, up to 10 s for a clean shutdown, then SIGKILL
  [ "$stopping" = 1 ] && return
  stopping=1
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for _ in $(seq 1 100); do
    [ "$(alive_count)" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  wait 2>/dev/null
}
# Ctrl-C reaches only this script (the children have their own sessions); it stops them.
trap 'echo "run.sh: stopping..."; stop_all; echo "run.sh: stopped"; exit 0' INT TERM

wait_for_port() {  # wait_for_port PORT PID: until something listens on 127.0.0.1:PORT
  for _ in $(seq 1 100); do
    "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$1" \
      2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

if [ -z "${GROQ_API_KEY:-}" ]; then
  if is_true "$DEBUG"; then
    # Realistic pacing so streaming is visible: ~0.3 s to the first token, ~60 tokens/s.
    start dev-responder "$PY" -m conversations.fake_groq --host 127.0.0.1 --port "$DEV_RESPONDER_PORT" \
      --ttft "${DEV_RESPONDER_TTFT:-0.3}" --tps "${DEV_RESPONDER_TPS:-60}"
    if ! wait_for_port "$DEV_RESPONDER_PORT" "${PIDS[-1]}"; then
      echo "run.sh: the development responder did not start on port $DEV_RESPONDER_PORT" >&2
      stop_all; exit 1
    fi
    export GROQ_BASE_URL="http://127.0.0.1:$DEV_RESPONDER_PORT"
    export GROQ_API_KEY=dev-responder
    export DEV_RESPONDER=1
    echo "run.sh: no GROQ_API_KEY: replies come from the development responder at $GROQ_BASE_URL"
  else
    echo "run.sh: warning: GROQ_API_KEY is not set; patients will see 'No AI service is configured'." >&2
  fi
fi

# --- TRAINING owner: base model bootstrap goes here (runs once, before the workers start). ---
# Without BASE_MODEL, fine-tuning uses a small local model built from the shipped corpus
# (no download; about a minute the first time, skipped when a valid one exists).
if [ -z "${BASE_MODEL:-}" ]; then
  "$PY" manage.py bootstrap_base_model || { echo "run.sh: bootstrap_base_model failed" >&2; stop_all; exit 1; }
fi
# --- end TRAINING bootstrap ---

start web "$VENV/bin/uvicorn" therapist_ai.asgi:application --host "$HOST" --port "$PORT" \
  --no-access-log --timeout-graceful-shutdown 5
start worker "$PY" manage.py qcluster

# --- TRAINING owner: training worker goes here (e.g. start training-worker "$PY" manage.py ...). ---
# Its own django-q2 cluster (one worker, recycled after every run), so chat jobs never wait.
start training-worker env Q_CLUSTER_NAME=training "$PY" manage.py qcluster
# --- end TRAINING worker ---

echo "run.sh: Therapist AI on http://$HOST:$PORT/ (Ctrl-C stops everything)"

# The first child to exit ends the session: stop the rest and report failure. (A polling
# loop rather than `wait -n`: children that handle Ctrl-C themselves and exit 0 would make
# bash skip its own INT trap; the foreground `sleep` dies of SIGINT, so the trap runs.)
while :; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      wait "${PIDS[$i]}"
      status=$?
      echo "run.sh: ${NAMES[$i]} (pid ${PIDS[$i]}) exited with status $status; stopping the rest" >&2
      stop_all
      [ "$status" = 0 ] && status=1
      exit "$status"
    fi
  done
  sleep 0.5
done
