"""WSGI entry point (plain sync servers; the production config is ASGI, see Procfile)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")

django_application = get_wsgi_application()

from therapist_ai.middleware import WSGIBodyLimit  # noqa: E402  (needs settings loaded)

application = WSGIBodyLimit(django_application)
