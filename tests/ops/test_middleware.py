"""Every middleware can run async: under ASGI no request is bounced through a sync thread."""

from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string


def test_every_middleware_is_async_capable():
    sync_only = [path for path in settings.MIDDLEWARE
                 if not getattr(import_string(path), "async_capable", False)]
    assert sync_only == [], "these force a sync thread hop on every ASGI request"


def test_static_files_are_served_by_the_async_static_middleware():
    import asyncio

    from django.test import AsyncClient

    async def fetch():
        response = await AsyncClient().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
        return response.status_code, response["Content-Type"]

    assert asyncio.run(fetch()) == (200, "text/css; charset=\"utf-8\"")


def test_static_files_are_served_to_sync_requests_too():
    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
