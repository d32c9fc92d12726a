"""The provider the chat flow asks when a version is promoted: the local model version through
the OpenAI-compatible inference server, with the hosted model (Groq) behind it.

Registered in ``TrainingConfig.ready()`` as a serving source of ``conversations.providers``;
returns None (Groq answers) in ``hosted`` and ``shadow`` modes.
"""

from __future__ import annotations

import logging

from django.conf import settings

from conversations.providers.base import ChatProvider, ProviderError
from conversations.providers.fallback import FallbackProvider
from conversations.providers.groq import groq_provider
from conversations.providers.openai_compat import OpenAICompatibleProvider
from training.models import ServingState
from training.serving.state import serving_view

logger = logging.getLogger("training.serving")


def local_provider(version_name: str) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        base_url=settings.INFERENCE_URL, model=version_name, api_key=settings.INFERENCE_API_KEY,
        timeout=settings.INFERENCE_TIMEOUT, connect_timeout=settings.INFERENCE_CONNECT_TIMEOUT,
        max_tokens=settings.INFERENCE_MAX_TOKENS, temperature=settings.INFERENCE_TEMPERATURE,
    )


def _fallback_noted(provider: ChatProvider, exc: ProviderError) -> None:
    """A local reply failed and Groq answers instead (the reply records it; once stored it counts
    toward the automatic revert, ``training.receivers.on_reply_stored``)."""
    logger.warning("Local model %s failed (%s); the hosted model answers", provider.model, exc.reason)


def serving_provider() -> ChatProvider | None:
    """The promoted version (with Groq behind it) in ``local`` mode; None otherwise."""
    view = serving_view()
    if view.mode != ServingState.Mode.LOCAL or not view.active_version:
        return None
    return FallbackProvider(local_provider(view.active_version), groq_provider(), on_fallback=_fallback_noted)
