"""The optional guard model, asked beside the chat model (``SAFETY_GUARD_MODEL``; unset: off).

It fails open: down, slow (past ``SAFETY_GUARD_TIMEOUT``), refusing, or answering garbage,
it is as if it had not been asked, and the local screen's verdict stands. Its requests name
its own model, through a client of its own (its own timeout, no retries), so they are never
the chat model's call. The crisis reply never depends on it: only the decision to send it
can come from it. How its answers read: ``conversations.safety.guard``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from django.conf import settings

from conversations.safety.guard import guard_combine, guard_messages, guard_parse, guard_turns
from conversations.safety.verdicts import InputScreen

log = logging.getLogger(__name__)


def guard_enabled() -> bool:
    return bool(getattr(settings, "SAFETY_GUARD_MODEL", ""))


def _guard_provider():
    from conversations.providers.groq import groq_provider

    timeout = float(settings.SAFETY_GUARD_TIMEOUT)
    return dataclasses.replace(groq_provider(), model=settings.SAFETY_GUARD_MODEL, max_tokens=32, temperature=0.0,
                               max_retries=0, timeout=timeout, connect_timeout=min(timeout, settings.GROQ_CONNECT_TIMEOUT))


async def guard_verdict(turns: list[dict]) -> InputScreen | None:
    """The guard's verdict on the latest patient message (the last of ``turns``), or None
    when it did not give a usable one within its time limit."""
    if not guard_enabled() or not turns:
        return None
    provider = _guard_provider()
    try:
        provider.client()  # made once per process and event loop (~0.1 s): not the guard's time
    except Exception as exc:
        log.warning("Safety guard %s has no client (%s); the local verdict stands", provider.model, exc)
        return None
    started = time.monotonic()
    try:
        completion = await asyncio.wait_for(provider.complete(guard_messages(provider.model, turns)),
                                            timeout=float(settings.SAFETY_GUARD_TIMEOUT))
    except TimeoutError:
        log.warning("Safety guard %s gave no verdict within %.2f s; the local verdict stands",
                    provider.model, settings.SAFETY_GUARD_TIMEOUT)
        return None
    except Exception as exc:  # ProviderError, anything else: fail open to the local verdict
        log.warning("Safety guard %s failed (%s); the local verdict stands", provider.model, exc)
        return None
    verdict = guard_parse(completion.text, provider.model)
    if verdict is None:
        log.warning("Safety guard %s answered something unreadable (%d characters); the local verdict stands",
                    provider.model, len(completion.text or ""))
    else:
        log.debug("Safety guard %s: %s in %.0f ms", provider.model, verdict.level, (time.monotonic() - started) * 1000)
    return verdict


async def guarded_complete(provider, prompt: list[dict], screen: InputScreen):
    """The chat model's whole reply and the guard's verdict, asked at the same time (callers
    without streaming). Returns (completion, or the ``ProviderError`` it raised, or None when
    the guard raised the turn to crisis and the model's request was cancelled; the verdict,
    raised or the local one itself)."""
    from conversations.providers.base import ProviderError, provider_complete

    guard = asyncio.create_task(guard_verdict(guard_turns(prompt)))
    reply = asyncio.create_task(provider_complete(provider, prompt))
    combined = guard_combine(screen, await guard)
    if combined.is_crisis and combined is not screen:
        reply.cancel()
        await asyncio.gather(reply, return_exceptions=True)
        return None, combined
    try:
        return await reply, combined
    except ProviderError as exc:
        return exc, combined
