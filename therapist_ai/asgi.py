"""ASGI entry point (production: gunicorn with uvicorn workers, see Procfile)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")

django_application = get_asgi_application()

from therapist_ai.middleware import ASGIBodyLimit  # noqa: E402  (needs settings loaded)

application = ASGIBodyLimit(django_application)
