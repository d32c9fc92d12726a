"""The provider interface: what every language-model provider offers, and its one error type.

A provider turns a list of chat messages (``{"role": "system"|"user"|"assistant",
"content": str}``) into a reply. ``stream`` yields text deltas (``str``) and, last, a
``Usage``. Every failure a patient could meet is raised as ``ProviderError``, which says
whether trying again can help. Only ``conversations/providers/groq.py`` imports ``groq``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str
    latency_ms: int
    provider: str = ""  # who answered, when not the provider asked (a fallback)
    fallback_reason: str = ""  # why the provider asked did not answer


class ProviderError(Exception):
    """A reply could not be produced. ``reason`` is safe to show to the patient."""

    def __init__(self, reason: str, retryable: bool, *, code: str = "error"):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.code = code


@runtime_checkable
class ChatProvider(Protocol):
    name: str
    model: str

    def stream(self, messages: list[dict]) -> AsyncIterator[str | Usage]:
        """Text deltas as they are generated, then one ``Usage``. Raises ``ProviderError``."""
        ...


async def provider_complete(provider: ChatProvider, messages: list[dict]) -> Completion:
    """The whole reply. Uses the provider's own ``complete`` when it has one (one JSON call)."""
    started = time.monotonic()
    complete = getattr(provider, "complete", None)
    if complete is not None:
        return await complete(messages)
    parts: list[str] = []
    usage = Usage()
    async for item in provider.stream(messages):
        if isinstance(item, Usage):
            usage = item
        else:
            parts.append(item)
    return Completion("".join(parts), usage, provider.model, int((time.monotonic() - started) * 1000))


def provider_complete_sync(provider: ChatProvider, messages: list[dict]) -> Completion:
    """``provider_complete`` for sync callers: the provider's own blocking call when it has
    one (``complete_sync``: no hand-over to the event loop's thread and back), else its
    coroutine on the process-wide provider loop."""
    complete_sync = getattr(provider, "complete_sync", None)
    if complete_sync is not None:
        return complete_sync(messages)
    return run_coroutine(provider_complete(provider, messages))


# --- Running provider coroutines from sync code ------------------------------------------
# Sync callers (the no-JS page, the REST API) share one long-lived event loop in a daemon
# thread, so the async client and its connection pool are made once per process, not per
# request (a loop per call would also leave clients bound to closed loops).
_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop.is_closed() or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="provider-loop", daemon=True).start()
        return _loop


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on the process-wide provider loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()
