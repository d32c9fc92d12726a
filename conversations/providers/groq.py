"""Groq, through the official async client. The only module that imports ``groq``.

One ``AsyncGroq`` client (one connection pool) per process and event loop: an httpx
client is bound to the loop it first ran on and breaks once that loop is closed, so the
cache is keyed by loop and entries for closed loops are dropped.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

import groq
import httpx
from django.conf import settings

from conversations.providers import Completion, ProviderError, Usage

_clients_lock = threading.Lock()
_clients: dict[tuple, tuple[weakref.ref, groq.AsyncGroq]] = {}


def reset_clients() -> None:
    """Forget cached clients (tests call this after pointing GROQ_BASE_URL elsewhere)."""
    with _clients_lock:
        _clients.clear()


@dataclass(frozen=True)
class GroqProvider:
    api_key: str
    model: str
    base_url: str | None
    timeout: float
    connect_timeout: float
    max_retries: int
    max_tokens: int
    temperature: float
    name: str = "groq"

    def client(self) -> groq.AsyncGroq:
        loop = asyncio.get_running_loop()
        key = (id(loop), self.api_key, self.base_url, self.timeout, self.connect_timeout, self.max_retries)
        with _clients_lock:
            cached = _clients.get(key)
            if cached is not None and cached[0]() is loop and not loop.is_closed():
                return cached[1]
            for stale in [k for k, (ref, _) in _clients.items() if ref() is None or ref().is_closed()]:
                del _clients[stale]
            client = groq.AsyncGroq(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                max_retries=min(self.max_retries, 1),
            )
            _clients[key] = (weakref.ref(loop), client)
            return client

    def _check_key(self) -> None:
        if not self.api_key:
            raise ProviderError(
                "No AI service is configured (GROQ_API_KEY is not set).", False, code="not_configured"
            )

    def _request(self, messages: list[dict]) -> dict:
        return {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                "temperature": self.temperature}

    async def complete(self, messages: list[dict]) -> Completion:
        self._check_key()
        started = time.monotonic()
        try:
            response = await self.client().chat.completions.create(**self._request(messages))
        except Exception as exc:
            raise provider_error(exc) from exc
        usage = response.usage
        return Completion(
            text=(response.choices[0].message.content or "") if response.choices else "",
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            model=response.model or self.model,
            latency_ms=int((time.monotonic() - started) * 1000),
        )

    async def stream(self, messages: list[dict]) -> AsyncIterator[str | Usage]:
        self._check_key()
        usage = Usage()
        try:
            chunks = await self.client().chat.completions.create(
                **self._request(messages), stream=True,
                extra_body={"stream_options": {"include_usage": True}},
            )
        except Exception as exc:
            raise provider_error(exc) from exc
        try:
            async for chunk in chunks:
                found = chunk.usage or (chunk.x_groq.usage if chunk.x_groq else None)
                if found is not None:
                    usage = Usage(found.prompt_tokens, found.completion_tokens)
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
        except Exception as exc:
            raise provider_error(exc) from exc
        finally:
            await chunks.close()  # give the connection back even when the caller stops early
        yield usage


def provider_error(exc: BaseException) -> ProviderError:
    """Map what the client raised to one exception that says whether a retry can help."""
    if isinstance(exc, groq.APITimeoutError | httpx.TimeoutException):
        return ProviderError("The AI service took too long to answer (timeout).", True, code="timeout")
    if isinstance(exc, groq.RateLimitError):
        return ProviderError("The AI service is busy right now (rate limited, HTTP 429).", True,
                             code="rate_limited")
    if isinstance(exc, groq.AuthenticationError):
        return ProviderError("The AI service rejected this server's API key (HTTP 401).", False,
                             code="invalid_key")
    if isinstance(exc, groq.APIStatusError):
        if exc.status_code >= 500:
            return ProviderError(f"The AI service had an internal error (HTTP {exc.status_code}).", True,
                                 code="upstream_error")
        return ProviderError(f"The AI service refused the request (HTTP {exc.status_code}).", False,
                             code="refused")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError("The connection to the AI service dropped before the reply finished.", True,
                             code="dropped")
    if isinstance(exc, groq.APIConnectionError | httpx.TransportError):
        return ProviderError("The AI service could not be reached (connection failed).", True,
                             code="unreachable")
    return ProviderError(f"The AI service failed ({type(exc).__name__}).", False, code="error")


def groq_provider() -> GroqProvider:
    return GroqProvider(
        api_key=settings.GROQ_API_KEY,
        model=settings.GROQ_MODEL,
        base_url=settings.GROQ_BASE_URL,
        timeout=settings.GROQ_TIMEOUT,
        connect_timeout=settings.GROQ_CONNECT_TIMEOUT,
        max_retries=settings.GROQ_MAX_RETRIES,
        max_tokens=settings.GROQ_MAX_TOKENS,
        temperature=settings.GROQ_TEMPERATURE,
    )
