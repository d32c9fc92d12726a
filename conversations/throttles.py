"""Limits on what costs money or invites abuse: chat turns per patient (every path that asks a
model: the API, the chat page, the stream, retries; one budget, ``MESSAGE_THROTTLE_RATE``) and
sign-ups per client address (``SIGNUP_THROTTLE_RATE``).

DRF's throttles, used by the API views and by the pages alike (they only need ``request.user``
and ``request.META``); the client address is the one the server resolved (``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import logging
import math

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class FailOpen:
    """The counts live in the cache (Redis in production): if it is down, chat and sign-up keep
    working, unlimited for that moment, and the outage is logged."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend is unreachable
            logger.warning("Rate limit not checked (%s: %s); the request goes through", type(exc).__name__, exc)
            return True


class ChatTurnThrottle(FailOpen, SimpleRateThrottle):
    """Per patient (``DEFAULT_THROTTLE_RATES["message_post"]``)."""

    scope = "message_post"

    def get_rate(self):
        # Read the live setting (not the class attribute captured at import time).
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class SignupThrottle(FailOpen, SimpleRateThrottle):
    """Per client address (``DEFAULT_THROTTLE_RATES["signup"]``)."""

    scope = "signup"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def wait_seconds(throttle: type[SimpleRateThrottle], request) -> int | None:
    """None when ``request`` may go ahead (and counts it); else whole seconds to wait."""
    limiter = throttle()
    if limiter.allow_request(request, None):
        return None
    return max(1, math.ceil(limiter.wait() or 1))


def too_fast_message(wait: int) -> str:
    return (f"You are sending messages faster than the service allows. Please wait {wait} seconds and send it "
            "again: your message is still here.")
