#!/usr/bin/env bash
# Run the whole suite (unit, API, browser, concurrency, training) on the configured database.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
exec "$VENV/bin/python" -m pytest "$@"
