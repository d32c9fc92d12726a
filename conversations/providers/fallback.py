"""A provider that falls back to another when the first fails: the promoted local model version,
with the hosted model behind it. The patient gets a reply either way; the reply records it.

A stream that fails after some text yields a ``ProviderSwitch`` before the fallback's text, so
the chat flow can take back what was shown (the page's ``replace`` event) and start again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from conversations.providers.base import (
    ChatProvider,
    Completion,
    ProviderError,
    Usage,
    provider_complete_sync,
)


@dataclass(frozen=True)
class ProviderSwitch:
    """In a stream: the text so far is void; what follows comes from ``name``/``model``."""

    name: str
    model: str
    reason: str


class FallbackProvider:
    def __init__(self, primary: ChatProvider, fallback: ChatProvider,
                 on_fallback: Callable[[ChatProvider, ProviderError], None] | None = None):
        self.primary, self.fallback, self.on_fallback = primary, fallback, on_fallback
        self.name, self.model = primary.name, primary.model

    def _report(self, exc: ProviderError) -> str:
        reason = f"{self.primary.name} {self.primary.model}: {exc.reason}"
        if self.on_fallback is not None:
            self.on_fallback(self.primary, exc)
        return reason[:500]

    def complete_sync(self, messages: list[dict]) -> Completion:
        try:
            return provider_complete_sync(self.primary, messages)
        except ProviderError as exc:
            reason = self._report(exc)
        completion = provider_complete_sync(self.fallback, messages)
        return dataclasses.replace(completion, provider=completion.provider or self.fallback.name,
                                   fallback_reason=reason)

    async def stream(self, messages: list[dict]) -> AsyncIterator[str | Usage | ProviderSwitch]:
        try:
            async for item in self.primary.stream(messages):
                yield item
            return
        except ProviderError as exc:
            reason = await sync_to_async(self._report)(exc)
        yield ProviderSwitch(self.fallback.name, self.fallback.model, reason)
        async for item in self.fallback.stream(messages):
            yield item
