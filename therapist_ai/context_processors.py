"""Template context shared by every page (disclosure, help link, provider labels)."""

from django.conf import settings


def service(request):
    return {
        "SERVICE_NAME": "Therapist AI",
        "DEV_RESPONDER": settings.DEV_RESPONDER,
    }
