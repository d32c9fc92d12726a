"""Under ASGI, Django runs a ``MiddlewareMixin`` middleware's ``process_request``,
``process_view`` and ``process_response`` each in a sync thread and back: with Django's
security, session, common, CSRF, auth, messages and clickjacking middleware and
django-csp's, 15 thread hops a request (``/healthz`` took 6.5 ms under ASGI vs 0.5 ms
sync). Those hooks read headers and cookies and set attributes; the subclasses below run
them on the event loop, and send to a thread only the cases that can touch the database
(a session to save, messages to store, CSRF secrets kept in the session). The ASGI handler
loads them in place of the classes ``ON_LOOP`` names; under WSGI they behave as Django's.
"""

from asgiref.sync import sync_to_async
from csp.middleware import CSPMiddleware as _CSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware as _CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as _CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware as _SecurityMiddleware


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
    "django.middleware.security.SecurityMiddleware": "therapist_ai.on_loop_middleware.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": "therapist_ai.on_loop_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": "therapist_ai.on_loop_middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "therapist_ai.on_loop_middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "therapist_ai.on_loop_middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware": "therapist_ai.on_loop_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "therapist_ai.on_loop_middleware.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware": "therapist_ai.on_loop_middleware.CSPMiddleware",
}
