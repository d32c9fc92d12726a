"""Chat turns whose reply arrives as events while the model generates (the streaming page).

Text is released to the patient only after the output screen has passed it, at sentence
boundaries; a reply the screen refuses is replaced before anyone sees it. With the guard model
on (``SAFETY_GUARD_MODEL``), it is asked when generation starts and nothing is released before
it has answered or run out of time; a crisis from it stops the generation.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

from conversations.models import Conversation, Message
from conversations.providers.base import ChatProvider, ProviderError, Usage
from conversations.providers.fallback import ProviderSwitch
from conversations.providers.selection import active_provider
from conversations.safety import services as safety
from conversations.safety.guard import guard_combine, guard_turns
from conversations.safety.verdicts import InputScreen, OutputScreen
from conversations.services.guard import guard_enabled, guard_verdict
from conversations.services.turns import (
    SCREEN_UNAVAILABLE,
    answer,
    content_clean,
    guard_crisis_store,
    input_screen_timed,
    input_verdict_store,
    output_screen_off_loop,
    patient_context,
    patient_message_store,
    pooled_connection_release,
    prompt_build,
    reply_store,
    resources_added,
    safety_summary,
)

log = logging.getLogger(__name__)

INTERRUPTED = "The reply was interrupted because the server restarted."


@dataclass(frozen=True)
class StreamEvent:
    """One event of a streamed turn: ``patient``, ``delta``, ``replace``, ``done`` or ``error``."""

    type: str
    data: dict = field(default_factory=dict)
    screen_ms: float | None = None  # on ``patient``: how long the input screen took (Server-Timing)


# A sentence ends at . ! ? or … (optionally followed by quotes/brackets) and whitespace, or at a newline.
_SENTENCE_END = re.compile(r"(?:[.!?…][\"'”’)\]]*\s+|\n+)")


# Without punctuation, release at the last space once this much text is waiting.
_MAX_HELD_CHARS = 240


def _release_point(text: str, start: int) -> int:
    """Where the text waiting after ``start`` can be cut for screening (``start``: not yet)."""
    last = start
    for match in _SENTENCE_END.finditer(text, start):
        last = match.end()
    if last == start and len(text) - start > _MAX_HELD_CHARS:
        space = text.rfind(" ", start, len(text))
        last = space + 1 if space > start else start
    return last


@dataclass
class _StreamPlan:
    patient_message: Message
    screen: InputScreen | None
    provider: ChatProvider | None = None
    prompt: list[dict] = field(default_factory=list)
    reply: Message | None = None  # already stored (crisis, screen failure)
    safety: dict = field(default_factory=dict)  # the patient message's safety summary
    resources: str = ""  # appended to the reply when the input screen said concern
    screen_ms: float | None = None


def _stream_patient_message(conversation: Conversation, content: str) -> Message:
    return patient_message_store(conversation, content_clean(content), None)[0]


def _stream_plan(patient_message: Message, screen: InputScreen | None) -> _StreamPlan:
    input_verdict_store(patient_message, screen)
    plan = _StreamPlan(patient_message, screen)
    if screen is None or screen.is_crisis:
        plan.reply = answer(patient_message, screen)
    else:
        plan.provider = active_provider()
        plan.prompt = prompt_build(patient_message, screen)
        plan.resources = safety.concern_resources_text(screen=screen) if screen.is_concern else ""
    # Safety texts may come from the database: read here, in sync code, not on the event loop.
    plan.safety = safety_summary(patient_message.safety_level, patient_message.safety_categories)
    return plan


def _stream_prepare(conversation: Conversation, content: str) -> _StreamPlan:
    """Everything before the model is asked, in one trip to a sync thread: commit the
    patient's message (first: nothing after it can lose it), screen it with the patient's
    messages before it, store the verdict, then build the prompt or store the reply that needs
    no model (crisis, screen failure)."""
    patient_message = _stream_patient_message(conversation, content)
    screen, screen_ms = input_screen_timed(patient_message.content, patient_context(patient_message))
    plan = _stream_plan(patient_message, screen)
    plan.screen_ms = screen_ms
    pooled_connection_release()
    return plan


async def _stream_begin(conversation: Conversation, content: str) -> _StreamPlan:
    return await sync_to_async(_stream_prepare)(conversation, content)


def _done_event(reply: Message, safety_summary: dict) -> StreamEvent:
    data = {"reply_id": reply.pk, "status": reply.status, "provider": reply.provider,
            "model": reply.model_name, "safety": safety_summary}
    if reply.status == Message.Status.FAILED:
        return StreamEvent("error", {**data, "reason": reply.failure_reason, "partial": reply.content})
    return StreamEvent("done", data)


class _GuardWait:
    """The guard's verdict, asked as generation starts and awaited before any text is released."""

    def __init__(self, plan: _StreamPlan):
        self.local = plan.screen
        self.task = asyncio.create_task(guard_verdict(guard_turns(plan.prompt)))
        self.screen: InputScreen | None = None

    async def settle(self) -> InputScreen:
        if self.screen is None:
            self.screen = guard_combine(self.local, await self.task)
        return self.screen

    async def allows_release(self) -> bool:
        return not (await self.settle()).is_crisis


def _guard_concern_store(plan: _StreamPlan, screen: InputScreen) -> None:
    """The guard raised the turn to concern: store it, add the resources (sync code: the texts
    may come from the database)."""
    input_verdict_store(plan.patient_message, screen)
    plan.screen = screen
    plan.resources = safety.concern_resources_text(screen=screen)
    plan.safety = safety_summary(plan.patient_message.safety_level, plan.patient_message.safety_categories)


async def _guard_outcome(plan: _StreamPlan, guard: _GuardWait, emit) -> bool:
    """After generation stopped: act on a raised verdict. True when the turn is finished (crisis)."""
    raised = await guard.settle()
    if raised is plan.screen:
        return False
    if raised.is_crisis:
        reply = await sync_to_async(guard_crisis_store)(plan.patient_message, raised)
        patient = plan.patient_message
        emit(StreamEvent("delta", {"text": reply.content}))
        emit(_done_event(reply, await sync_to_async(safety_summary)(patient.safety_level, patient.safety_categories)))
        return True
    await sync_to_async(_guard_concern_store)(plan, raised)
    return False


async def _stream_generate(plan: _StreamPlan, emit: Callable[[StreamEvent | None], None]) -> None:
    """Drive the provider, screen as text arrives, store the reply; events go to ``emit``.

    Text is screened and released at the last sentence end of what has arrived: one screen
    per batch the provider yields (a busy server reads several chunks at once, and screens
    them together), never text the screen has not passed, and (guard on) never before the
    guard has answered or run out of time.
    """
    screen_async = sync_to_async(output_screen_off_loop, thread_sensitive=False)
    store = sync_to_async(reply_store)
    provider, started = plan.provider, time.monotonic()
    received, shown, usage, output = "", 0, Usage(), OutputScreen()
    failure, interrupted, fallback_reason = "", False, ""
    answered_by = (provider.name, provider.model)
    guard = _GuardWait(plan) if guard_enabled() else None
    chunks = provider.stream(plan.prompt)
    try:
        async for item in chunks:
            if isinstance(item, Usage):
                usage = item
                continue
            if isinstance(item, ProviderSwitch):
                # The provider asked failed; another answers from the start: take back what was shown.
                if shown:
                    emit(StreamEvent("replace", {"text": ""}))
                received, shown, output = "", 0, OutputScreen()
                answered_by, fallback_reason = (item.name, item.model), item.reason
                continue
            received += item
            cut = _release_point(received, shown)
            if cut > shown:
                if guard is not None and not await guard.allows_release():
                    break  # a crisis from the guard: stop the generation
                output = await screen_async(received[:cut])
                if output is None or not output.safe:
                    break
                emit(StreamEvent("delta", {"text": received[shown:cut]}))
                shown = cut
        if output is not None and output.safe and shown < len(received) and (
                guard is None or await guard.allows_release()):
            output = await screen_async(received)
            if output is not None and output.safe:
                emit(StreamEvent("delta", {"text": received[shown:]}))
                shown = len(received)
    except ProviderError as exc:
        failure = exc.reason
    except asyncio.CancelledError:
        # The server is shutting down: keep what the patient saw, marked failed (retryable).
        interrupted = True
        failure = INTERRUPTED
    finally:
        if hasattr(chunks, "aclose"):
            await chunks.aclose()  # stops the upstream request when the reply was replaced
        if interrupted and guard is not None:
            guard.task.cancel()
    if guard is not None and not interrupted and await _guard_outcome(plan, guard, emit):
        return
    latency = int((time.monotonic() - started) * 1000)
    name, model = answered_by
    common = dict(patient_message=plan.patient_message, provider=name, latency_ms=latency,
                  fallback_reason=fallback_reason)
    if output is None:
        reply = await store(**common, content="", status=Message.Status.FAILED, failure_reason=SCREEN_UNAVAILABLE)
        emit(StreamEvent("replace", {"text": ""}))
    elif not output.safe:
        text = resources_added(output.replacement, plan.resources)
        reply = await store(**common, content=text, model_name=model, usage=usage, output=output)
        emit(StreamEvent("replace", {"text": text}))
    elif failure:
        # What the patient already saw is kept, marked failed: it is what it is, a partial reply.
        reply = await store(**common, content=received[:shown], status=Message.Status.FAILED,
                            failure_reason=failure, model_name=model)
    else:
        text = resources_added(received, plan.resources)
        if text != received:
            emit(StreamEvent("delta", {"text": text[len(received):]}))
        reply = await store(**common, content=text, model_name=model, usage=usage, output=output)
    emit(_done_event(reply, plan.safety))
    if interrupted:
        raise asyncio.CancelledError


def _failure_event(patient: Message, safety_summary: dict) -> StreamEvent:
    """After an internal error (the database gone mid-reply: a PostgreSQL restart): store a failed
    reply on a fresh connection if possible, and always tell the patient; their message is kept."""
    reason = "The reply could not be completed because of an internal error."
    for _attempt in range(2):
        try:
            reply = reply_store(patient_message=patient, content="", status=Message.Status.FAILED,
                                failure_reason=reason)
            return _done_event(reply, safety_summary)
        except Exception:
            log.exception("Could not store the failed reply to message %s", patient.pk)
            close_old_connections()
            connection.close()  # a broken connection goes; the next attempt opens a fresh one
    return StreamEvent("error", {"reply_id": None, "status": Message.Status.FAILED, "reason": reason + (
        " Your message is saved; please send it again in a moment."), "partial": "", "safety": safety_summary})


# Generations whose page went away are finished (and stored) anyway; keep them referenced.
_orphaned: set[asyncio.Task] = set()


async def message_stream(*, conversation: Conversation, content: str) -> AsyncIterator[StreamEvent]:
    """A chat turn whose reply arrives as events while it is generated (the streaming page).

    Raises ``ValidationError`` before the first event for bad content. Then yields
    ``patient`` (the stored message), ``delta`` pieces of screened text, possibly ``replace``
    (the reply was replaced by the safe template), and finally ``done`` or ``error``. If the
    consumer stops listening, generation continues and the reply is stored.
    """
    plan = await _stream_begin(conversation, content)
    patient = plan.patient_message
    yield StreamEvent("patient", {"id": patient.pk, "content": patient.content,
                                  "safety_level": patient.safety_level}, screen_ms=plan.screen_ms)
    if plan.reply is not None:
        if plan.reply.content:
            yield StreamEvent("delta", {"text": plan.reply.content})
        yield _done_event(plan.reply, plan.safety)
        return
    queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
    listener_gone = False

    async def generate() -> None:
        try:
            await _stream_generate(plan, queue.put_nowait)
        except Exception:
            log.exception("Streaming reply to message %s failed", patient.pk)
            queue.put_nowait(await sync_to_async(_failure_event)(patient, plan.safety))
        finally:
            queue.put_nowait(None)
            if listener_gone:
                # The request has already finished, so nothing else will close the database
                # connection this late write opened.
                await sync_to_async(close_old_connections)()

    task = asyncio.create_task(generate())
    try:
        while (event := await queue.get()) is not None:
            yield event
    finally:
        if not task.done():
            listener_gone = True
            _orphaned.add(task)
            task.add_done_callback(_orphaned.discard)
