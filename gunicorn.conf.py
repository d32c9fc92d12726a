"""Production web server: gunicorn managing uvicorn (ASGI) workers.

Async workers hold many streamed chats per process; sync Django code (the REST API,
admin) runs in the worker's thread pool. Every value can be overridden from the
environment; see docs/deploy.md.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "uvicorn_worker.UvicornWorker"
# One async worker per core (at most 4: containers often see the host's cores, and each
# worker holds Django and the safety screen's model, ~250 MB); WEB_CONCURRENCY overrides.
workers = int(os.environ.get("WEB_CONCURRENCY", min(len(os.sched_getaffinity(0)), 4)))
# A streamed reply can take a while; the worker is async so a long request blocks nothing.
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# TLS ends at the platform's proxy; trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-" if os.environ.get("WEB_ACCESS_LOG", "1") == "1" else None
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
# Recycle workers now and then so slow leaks cannot accumulate.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
# No control socket: it would live under $HOME, which the image's non-root user cannot write.
control_socket_disable = True


def post_worker_init(worker):
    """Load the safety screen's model before the first patient message, not during it.

    A new worker (start, or a recycle after ``max_requests``) would otherwise make one
    patient wait ~0.5 s for the encoder and classifier to load.
    """
    try:
        from conversations.safety.screening import warm_up

        warm_up()
    except Exception:  # never keep a worker from serving over a warm-up
        worker.log.exception("Safety screen warm-up failed; it will load on first use")
