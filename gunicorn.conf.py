"""Production web server: gunicorn managing uvicorn (ASGI) workers.

Async workers hold many streamed chats per process; sync Django code (the REST API,
admin) runs in the worker's thread pool. Every value can be overridden from the
environment, read as strictly as the settings read theirs; see docs/configuration.md.
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")

from therapist_ai.settings import Env  # noqa: E402  (after DJANGO_SETTINGS_MODULE)

env = Env()

bind = f"0.0.0.0:{env.int('PORT', default=8000)}"
worker_class = "uvicorn_worker.UvicornWorker"
# One async worker per core (at most 4: containers often see the host's cores, and each
# worker holds Django and the safety screen's model, ~250 MB); WEB_CONCURRENCY overrides.
workers = env.int("WEB_CONCURRENCY", default=min(len(os.sched_getaffinity(0)), 4))
# A streamed reply can take a while; the worker is async so a long request blocks nothing.
timeout = env.int("WEB_TIMEOUT", default=120)
graceful_timeout = env.int("WEB_GRACEFUL_TIMEOUT", default=30)
keepalive = 5
# The client address: the uvicorn workers take it from X-Forwarded-For only when the
# connecting peer is one of TRUSTED_PROXIES (empty: never), so a client cannot choose the
# address that the login lockout and the API throttle count. Read through the settings:
# checked once here, in the master, before any worker starts (a bad value stops gunicorn).
forwarded_allow_ips = ",".join(settings.TRUSTED_PROXIES)
accesslog = "-" if env.bool("WEB_ACCESS_LOG", default=True) else None
errorlog = "-"
loglevel = env.str("WEB_LOG_LEVEL", default="info")
# Recycle workers now and then so slow leaks cannot accumulate.
max_requests = env.int("WEB_MAX_REQUESTS", default=10000)
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
