"""ASGI entry point (production: gunicorn with uvicorn workers, see Procfile)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")
django.setup(set_prefix=False)

from therapist_ai.handlers import PooledThreadASGIHandler  # noqa: E402  (needs settings loaded)
from therapist_ai.middleware import ASGIBodyLimit  # noqa: E402

django_application = PooledThreadASGIHandler()

application = ASGIBodyLimit(django_application)
