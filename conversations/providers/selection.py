"""Who answers patients now: a provider that a higher layer registered, else Groq.

The training app registers its serving provider in ``AppConfig.ready()`` (a promoted local
model version, or ``None`` in learning mode); the chat flow never imports the training app.
"""

from __future__ import annotations

from collections.abc import Callable

from conversations.providers.base import ChatProvider

# Asked in turn on every chat turn (sync code: it may read the database); the first provider
# returned answers. Empty: Groq answers everyone.
_serving_sources: list[Callable[[], ChatProvider | None]] = []


def serving_source_register(source: Callable[[], ChatProvider | None]) -> None:
    """Add a source of the serving provider (idempotent)."""
    if source not in _serving_sources:
        _serving_sources.append(source)


def active_provider() -> ChatProvider:
    """The provider a registered source picks (a promoted local version), else Groq."""
    for source in _serving_sources:
        provider = source()
        if provider is not None:
            return provider
    from conversations.providers.groq import groq_provider

    return groq_provider()
