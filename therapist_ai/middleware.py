"""Request body limit (413 before parsing), async-native middleware, the API's lockout response.

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

Under ASGI, Django runs a ``MiddlewareMixin`` middleware's ``process_request``,
``process_view`` and ``process_response`` each in a sync thread and back: with Django's
security, session, common, CSRF, auth, messages and clickjacking middleware and
django-csp's, 15 thread hops a request (``/healthz`` took 6.5 ms under ASGI vs 0.5 ms
sync). Those hooks read headers and cookies and set attributes; the subclasses below run
them on the event loop, and send to a thread only the cases that can touch the database
(a session to save, messages to store, CSRF secrets kept in the session). The ASGI handler
loads them in place of the classes ``ON_LOOP`` names; under WSGI they behave as Django's.
"""

import io
import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp.middleware import CSPMiddleware as _CSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.http import JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware as _CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as _CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware as _SecurityMiddleware
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


class OnLoopMixin:
    """Run a ``MiddlewareMixin``'s hooks on the event loop under ASGI (no thread hop).

    For hooks that do no I/O. A subclass names the cases that may reach the database in
    ``request_needs_thread``/``view_needs_thread``/``response_needs_thread``; those still
    run in the request's sync thread, as Django would run them.
    """

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode and hasattr(self, "process_view"):
            # A coroutine function: Django's handler awaits it as is, without a thread.
            process_view_sync = self.process_view

            async def process_view(request, callback, callback_args, callback_kwargs):
                if self.view_needs_thread(request):
                    return await sync_to_async(process_view_sync)(request, callback, callback_args, callback_kwargs)
                return process_view_sync(request, callback, callback_args, callback_kwargs)

            self.process_view = process_view

    def request_needs_thread(self, request) -> bool:
        return False

    def view_needs_thread(self, request) -> bool:
        return False

    def response_needs_thread(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            if self.request_needs_thread(request):
                response = await sync_to_async(self.process_request)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(self.process_response)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(OnLoopMixin, _SecurityMiddleware):
    """Django's (headers and the HTTPS redirect only)."""


class SessionMiddleware(OnLoopMixin, _SessionMiddleware):
    """Django's; a session that must be saved is saved in the request's thread."""

    def response_needs_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(OnLoopMixin, _CommonMiddleware):
    """Django's (host check, slash redirects, Content-Length)."""


class CsrfViewMiddleware(OnLoopMixin, _CsrfViewMiddleware):
    """Django's; the secret is a cookie here, so only ``CSRF_USE_SESSIONS`` needs the thread."""

    def request_needs_thread(self, request) -> bool:
        return settings.CSRF_USE_SESSIONS

    def view_needs_thread(self, request) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request, response) -> bool:
        return settings.CSRF_USE_SESSIONS


class AuthenticationMiddleware(OnLoopMixin, _AuthenticationMiddleware):
    """Django's: sets the lazy ``request.user``/``request.auser`` (the user is read on use)."""


class MessageMiddleware(OnLoopMixin, _MessageMiddleware):
    """Django's; messages are stored (cookie, maybe the session) in the request's thread."""

    def response_needs_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(OnLoopMixin, _XFrameOptionsMiddleware):
    """Django's (one header)."""


class CSPMiddleware(OnLoopMixin, _CSPMiddleware):
    """django-csp's (builds the header)."""


# Django's (and django-csp's) middleware -> its on-loop subclass; therapist_ai/handlers.py.
ON_LOOP = {
    "django.middleware.security.SecurityMiddleware": "therapist_ai.middleware.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": "therapist_ai.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": "therapist_ai.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "therapist_ai.middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "therapist_ai.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware": "therapist_ai.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "therapist_ai.middleware.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware": "therapist_ai.middleware.CSPMiddleware",
}


def lockout_response(request, original_response=None, credentials=None):
    """django-axes lockout: JSON for the API, the lockout page for the web."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Too many failed login attempts. Try again later."},
            status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429),
        )
    from django.shortcuts import render

    return render(request, settings.AXES_LOCKOUT_TEMPLATE, status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429))
