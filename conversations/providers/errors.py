"""What an SDK raised, as the one ``ProviderError`` that says whether a retry can help.

The Groq and OpenAI SDKs are generated from the same toolkit and raise the same exception
names; the SDK module is passed in, so this module imports neither.
"""

from __future__ import annotations

from types import ModuleType

import httpx

from conversations.providers.base import ProviderError


def error_from_sdk(exc: BaseException, sdk: ModuleType, *, service: str = "The AI service") -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, sdk.APITimeoutError | httpx.TimeoutException):
        return ProviderError(f"{service} took too long to answer (timeout).", True, code="timeout")
    if isinstance(exc, sdk.RateLimitError):
        return ProviderError(f"{service} is busy right now (rate limited, HTTP 429).", True, code="rate_limited")
    if isinstance(exc, sdk.AuthenticationError):
        return ProviderError(f"{service} rejected this server's API key (HTTP 401).", False, code="invalid_key")
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code >= 500:
            return ProviderError(f"{service} had an internal error (HTTP {exc.status_code}).", True,
                                 code="upstream_error")
        return ProviderError(f"{service} refused the request (HTTP {exc.status_code}).", False, code="refused")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(f"The connection to {service[0].lower() + service[1:]} dropped before the reply "
                             "finished.", True, code="dropped")
    if isinstance(exc, sdk.APIConnectionError | httpx.TransportError):
        return ProviderError(f"{service} could not be reached (connection failed).", True, code="unreachable")
    return ProviderError(f"{service} failed ({type(exc).__name__}).", False, code="error")
