"""Request body limit (413 before parsing), static files, the API's lockout response.

Three layers refuse bodies over ``REQUEST_BODY_MAX_BYTES``:

* ``RequestBodyLimitMiddleware`` (Django): a declared Content-Length over the limit is
  refused before anything reads the body (runserver, test client, every server).
* ``ASGIBodyLimit`` wraps the ASGI application: Django's ASGI handler reads the whole body
  into a temporary file before middleware runs, so a chunked body (no Content-Length) is
  counted here, as it arrives, and refused as soon as it passes the limit; one within the
  limit is handed on with its Content-Length (DRF treats a body without one as empty).
* ``WSGIBodyLimit`` wraps the WSGI application: Django's WSGI request treats a body without
  Content-Length as empty; this reads a chunked body up to the limit (413 past it) and hands
  Django a sized body.

The on-loop variants of Django's middleware that the ASGI handler loads are in
``therapist_ai.on_loop_middleware``.
"""

import io
import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware


def _too_large_detail(length: int | None, limit: int) -> str:
    if length is None:
        return f"Request body too large: the limit is {limit} bytes."
    return f"Request body too large: {length} bytes, the limit is {limit} bytes."


class RequestBodyLimitMiddleware:
    """Refuse a declared Content-Length over ``REQUEST_BODY_MAX_BYTES`` with 413, unread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _refusal(self, request):
        limit = settings.REQUEST_BODY_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
        if length > limit:
            return JsonResponse({"detail": _too_large_detail(length, limit)}, status=413)
        return None

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self._refusal(request) or self.get_response(request)

    async def __acall__(self, request):
        return self._refusal(request) or await self.get_response(request)


class ASGIBodyLimit:
    """ASGI wrapper counting body bytes as they arrive (covers chunked uploads)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.REQUEST_BODY_MAX_BYTES
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await _asgi_json(send, 400, {"detail": "Invalid Content-Length header."})
            if length > limit:
                return await _asgi_json(send, 413, {"detail": _too_large_detail(length, limit)})
            return await self.app(scope, receive, send)
        if b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)  # no body at all
        buffered, total = [], 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > limit:
                return await _asgi_json(send, 413, {"detail": _too_large_detail(None, limit)})
            if not message.get("more_body", False):
                break

        async def replay():
            if buffered:
                return buffered.pop(0)
            return await receive()

        # Give Django (and DRF, which reads nothing without it) the now known length.
        sized = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
        sized.append((b"content-length", str(total).encode()))
        return await self.app({**scope, "headers": sized}, replay, send)


async def _asgi_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class WSGIBodyLimit:
    """WSGI wrapper that sizes chunked bodies (refusing those over the limit)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            limit = settings.REQUEST_BODY_MAX_BYTES
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                payload = json.dumps({"detail": _too_large_detail(None, limit)}).encode()
                start_response(
                    "413 Request Entity Too Large",
                    [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload))),
                        ("Connection", "close"),
                    ],
                )
                return [payload]
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable.

    WhiteNoise's own middleware is sync-only, which makes Django run every request under
    ASGI through a sync thread and back (the streaming chat view included). Here static
    files are served the same way and everything else goes straight on, async.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, settings=settings):
        super().__init__(get_response, settings)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if not request.path_info.startswith(self.static_prefix):
            return await self.get_response(request)
        if self.autorefresh:  # DEBUG: looks at the disk
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes lockout: JSON for the API, the lockout page for the web."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Too many failed login attempts. Try again later."},
            status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429),
        )
    from django.shortcuts import render

    return render(request, settings.AXES_LOCKOUT_TEMPLATE, status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429))
