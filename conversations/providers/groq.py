"""Groq, through the official async client. The only module that imports ``groq``.

One ``AsyncGroq`` client (one connection pool) per process and event loop
(``conversations.providers.clients``).

Requests go through the client's own ``post`` (its authentication, retries, timeouts and
error types), with a plain JSON body and the reply read as plain JSON. ``chat.completions
.create`` would first walk the request through the SDK's type-driven transform (~2 ms for
a 20-message history) and build a pydantic object per streamed chunk (~0.1 ms each, more
on a busy core): more CPU than the rest of a chat turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import groq
import httpx
from django.conf import settings

from conversations.providers.base import Completion, ProviderError, Usage
from conversations.providers.clients import ClientCache
from conversations.providers.errors import error_from_sdk

CHAT_PATH = "/openai/v1/chat/completions"

_clients = ClientCache(lambda options: groq.AsyncGroq(**options), lambda options: groq.Groq(**options))


def reset_clients() -> None:
    """Forget cached clients (tests call this after pointing GROQ_BASE_URL elsewhere)."""
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
        return _clients.async_client(self._client_key(), self._client_options())

    def sync_client(self) -> groq.Groq:
        return _clients.sync_client(self._client_key(), self._client_options())

    def _client_key(self) -> tuple:
        return (self.api_key, self.base_url, self.timeout, self.connect_timeout, self.max_retries)

    def _client_options(self) -> dict:
        """The same for the async and the blocking client: explicit timeouts, at most one retry."""
        return {"api_key": self.api_key, "base_url": self.base_url,
                "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
                "max_retries": min(self.max_retries, 1)}

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
            response = await self.client().post(CHAT_PATH, cast_to=httpx.Response, body=self._request(messages))
        except Exception as exc:
            raise provider_error(exc) from exc
        return self._completion(response, started)

    def complete_sync(self, messages: list[dict]) -> Completion:
        """``complete`` for sync callers (the REST API, the no-JS page), on a blocking client."""
        self._check_key()
        started = time.monotonic()
        try:
            response = self.sync_client().post(CHAT_PATH, cast_to=httpx.Response, body=self._request(messages))
        except Exception as exc:
            raise provider_error(exc) from exc
        return self._completion(response, started)

    def _completion(self, response: httpx.Response, started: float) -> Completion:
        try:
            reply = response.json()
            choices = reply.get("choices") or []
            text = ((choices[0].get("message") or {}).get("content") or "") if choices else ""
        except Exception as exc:
            raise provider_error(exc) from exc
        return Completion(text=text, usage=_usage(reply.get("usage")) or Usage(),
                          model=reply.get("model") or self.model,
                          latency_ms=int((time.monotonic() - started) * 1000))

    async def stream(self, messages: list[dict]) -> AsyncIterator[str | Usage]:
        """Text as it arrives: the deltas of all the events one network read brought, joined."""
        self._check_key()
        usage = Usage()
        body = {**self._request(messages), "stream": True, "stream_options": {"include_usage": True}}
        try:
            response = await self.client().post(CHAT_PATH, cast_to=httpx.Response, body=body, stream=True)
        except Exception as exc:
            raise provider_error(exc) from exc
        events, done = ServerSentEvents(), False
        try:
            async for data in response.aiter_bytes():
                text = []
                for event, payload in events.feed(data):
                    if done or payload.startswith("[DONE]"):
                        done = True  # read on to the end, so the connection can be reused
                        continue
                    usage = _chunk_read(event, payload, text, response) or usage
                if text:
                    yield "".join(text)
        except Exception as exc:
            raise provider_error(exc) from exc
        finally:
            await response.aclose()  # give the connection back even when the caller stops early
        yield usage


def _usage(found) -> Usage | None:
    if not isinstance(found, dict):
        return None
    return Usage(found.get("prompt_tokens"), found.get("completion_tokens"))


def _chunk_read(event: str | None, payload: str, text: list[str], response: httpx.Response) -> Usage | None:
    """One streamed chunk: its content deltas go to ``text``; returns the usage it reports, if any.

    An ``error`` object in the stream raises ``groq.APIError``, as the SDK's own stream does.
    """
    chunk = json.loads(payload)
    if not isinstance(chunk, dict):
        return None
    if chunk.get("error") and event in (None, "error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else None
        raise groq.APIError(message if isinstance(message, str) and message else "An error occurred during streaming",
                            request=response.request, body=error)
    if event is not None:
        return None  # named events carry no completion chunks
    for choice in chunk.get("choices") or ():
        content = (choice.get("delta") or {}).get("content")
        if content:
            text.append(content)
    return _usage(chunk.get("usage")) or _usage((chunk.get("x_groq") or {}).get("usage"))


class ServerSentEvents:
    """Incremental ``text/event-stream`` parser: ``feed(bytes)`` returns the completed
    ``(event name or None, data)`` pairs; comments and unknown fields are skipped."""

    def __init__(self):
        self._pending = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, data: bytes) -> list[tuple[str | None, str]]:
        *lines, self._pending = (self._pending + data).split(b"\n")
        events = []
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8")
            if not line:
                if self._data:
                    events.append((self._event, "\n".join(self._data)))
                self._data, self._event = [], None
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
        return events


def provider_error(exc: BaseException) -> ProviderError:
    """Map what the client raised to one exception that says whether a retry can help."""
    return error_from_sdk(exc, groq)


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
