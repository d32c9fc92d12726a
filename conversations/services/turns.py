"""The steps every chat turn shares: store the patient's message, screen it, build the
prompt, ask the model (sync callers), screen and store the reply. See the package docstring
for the order the guarantees rest on."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.providers.base import ProviderError, Usage, provider_complete_sync
from conversations.providers.selection import active_provider
from conversations.safety import services as safety
from conversations.safety.screen_inputs import CONTEXT_MESSAGES
from conversations.safety.screening import screen_input, screen_output
from conversations.safety.verdicts import InputScreen, OutputScreen
from conversations.services.guard import guard_enabled
from conversations.signals import reply_stored

log = logging.getLogger(__name__)

SCREEN_UNAVAILABLE = "The safety check could not run, so the AI was not asked. Please try again."




@dataclass
class ChatTurn:
    patient_message: Message
    reply: Message | None
    safety: dict
    created: bool = True
    screen_ms: float | None = None  # how long the input screen took (Server-Timing)


def content_clean(content: str) -> str:
    content = (content or "").strip()
    if not content:
        raise ValidationError({"content": ["Write a message first."]})
    if len(content) > settings.MESSAGE_MAX_CHARS:
        raise ValidationError(
            {"content": [f"Messages can be at most {settings.MESSAGE_MAX_CHARS} characters "
                         f"(this one has {len(content)})."]}
        )
    return content


def safety_summary(level: str, categories) -> dict:
    return safety.safety_summary(level=level, categories=categories)


def turn_of(patient_message: Message, *, created: bool) -> ChatTurn:
    reply = patient_message.replies.order_by("-id").first()
    return ChatTurn(patient_message, reply,
                    safety_summary(patient_message.safety_level, patient_message.safety_categories), created)


def patient_message_store(conversation: Conversation, content: str, idempotency_key: str | None):
    """Commit the patient's message. Returns (message, created); a known key returns the first one.

    A key is not looked up first: the unique constraint refuses a repeat, which is then
    read back (a replay is rare; a lookup before every keyed insert cost a quarter of a turn).
    """
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation, role=Message.Role.PATIENT, content=content,
                idempotency_key=idempotency_key or None,
            )
            fields = {"updated_at": timezone.now()}
            if not conversation.title:
                fields["title"] = title_from(content)
            Conversation.objects.filter(pk=conversation.pk).update(**fields)
    except IntegrityError:
        if not idempotency_key:
            raise
        return conversation.messages.get(idempotency_key=idempotency_key), False
    conversation.title = fields.get("title", conversation.title)
    return message, True


def title_from(content: str) -> str:
    first_line = content.splitlines()[0] if content else ""
    return first_line[:60] + ("…" if len(first_line) > 60 else "")


def patient_context(message: Message) -> list[str]:
    """The patient's messages just before ``message`` in its conversation (up to
    ``CONTEXT_MESSAGES``, oldest first), which the input screen reads it with: one indexed query."""
    earlier = (Message.objects.filter(conversation_id=message.conversation_id, role=Message.Role.PATIENT,
                                      id__lt=message.pk)
               .order_by("-id").values_list("content", flat=True)[:CONTEXT_MESSAGES])
    return list(reversed(earlier))


def input_screen_run(text: str, context: list[str] = ()) -> InputScreen | None:
    """The input screen's verdict, or None when the screen itself failed (the model is then not asked)."""
    try:
        return screen_input(text, context=context)
    except Exception:
        log.exception("Input screen failed; the model is not asked")
        return None


def input_screen_timed(text: str, context: list[str] = ()) -> tuple[InputScreen | None, float]:
    started = time.perf_counter()
    screen = input_screen_run(text, context)
    return screen, (time.perf_counter() - started) * 1000


def input_verdict_store(message: Message, screen: InputScreen | None) -> None:
    if screen is None:
        return
    level, categories = screen.level, list(screen.categories)
    if message.safety_level == level and list(message.safety_categories or []) == categories:
        return  # already what is stored: a new message starts as "none", as most stay (one write less)
    message.safety_level, message.safety_categories = level, categories
    Message.objects.filter(pk=message.pk).update(safety_level=level, safety_categories=categories)


def input_screen(message: Message) -> tuple[InputScreen | None, float]:
    """Screen the committed message and store the verdict on it (sync callers); (verdict, ms)."""
    screen, screen_ms = input_screen_timed(message.content, patient_context(message))
    input_verdict_store(message, screen)
    return screen, screen_ms


@transaction.atomic
def reply_store(*, patient_message: Message, content: str, status: str = Message.Status.OK,
                 failure_reason: str = "", provider: str = "", model_name: str = "",
                 latency_ms: int | None = None, usage: Usage | None = None,
                 output: OutputScreen | None = None, update: Message | None = None,
                 fallback_reason: str = "") -> Message:
    """Store (or, for a retry, update in place) the assistant reply to ``patient_message``."""
    values = dict(
        content=content, status=status, failure_reason=failure_reason[:500], provider=provider,
        model_name=model_name, latency_ms=latency_ms, fallback_reason=fallback_reason[:500],
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        safety_level=Message.SafetyLevel.CONCERN if output and not output.safe else Message.SafetyLevel.NONE,
        safety_categories=list(output.categories) if output and not output.safe else [],
    )
    if update is not None:
        # Only the reply this retry claimed (pending) is overwritten: two retries never both win.
        if not Message.objects.filter(pk=update.pk, status=Message.Status.PENDING).update(**values, claimed_at=None):
            return Message.objects.get(pk=update.pk)
        reply = Message.objects.get(pk=update.pk)
    else:
        try:
            with transaction.atomic():
                reply = Message.objects.create(
                    conversation_id=patient_message.conversation_id, role=Message.Role.ASSISTANT,
                    reply_to=patient_message, **values,
                )
        except IntegrityError:
            # A retry claimed this message while this answer was in flight: one reply per message,
            # the retry's; this answer is dropped.
            log.warning("Reply to message %s dropped: a retry answers it", patient_message.pk)
            return Message.objects.get(reply_to=patient_message, role=Message.Role.ASSISTANT)
    Conversation.objects.filter(pk=patient_message.conversation_id).update(updated_at=timezone.now())
    if output is not None and not output.safe:
        safety.output_replacement_record(message=reply, screen=output)
    if reply.status == Message.Status.OK and reply_stored.has_listeners():
        event = {"patient_message_id": patient_message.pk, "reply_id": reply.pk, "provider": reply.provider,
                 "fallback_reason": reply.fallback_reason, "replaced": output is not None and not output.safe}
        transaction.on_commit(lambda: reply_stored.send(sender=Message, **event))
    return reply


@transaction.atomic
def crisis_reply_store(patient_message: Message, screen: InputScreen, update: Message | None = None) -> Message:
    """The fixed crisis reply and the conversation's safety flag, in one transaction: a crisis
    reply never exists without its flag (the clinicians' alert is queued after commit)."""
    reply = reply_store(patient_message=patient_message, content=safety.crisis_reply_text(screen=screen),
                         provider="safety", model_name="crisis-template", latency_ms=0, update=update)
    safety.conversation_flag(conversation=patient_message.conversation, message=patient_message, screen=screen)
    return reply


def guard_crisis_store(patient_message: Message, screen: InputScreen, update: Message | None = None) -> Message:
    """The guard raised the turn to crisis: store the verdict, the crisis reply and the flag,
    exactly as for a local crisis (the model's answer is dropped, never shown)."""
    input_verdict_store(patient_message, screen)
    return crisis_reply_store(patient_message, screen, update)


def guarded_complete_sync(provider, prompt: list[dict], screen: InputScreen):
    from conversations.providers.base import run_coroutine
    from conversations.services.guard import guarded_complete

    return run_coroutine(guarded_complete(provider, prompt, screen))


def prompt_build(patient_message: Message, screen: InputScreen) -> list[dict]:
    """System prompt (+ concern guidance) and the recent history ending at ``patient_message``."""
    system = settings.THERAPIST_SYSTEM_PROMPT
    if screen.is_concern:
        addendum = safety.concern_system_addendum(screen=screen)
        if addendum:
            system = f"{system}\n\n{addendum}"
    history = list(
        Message.objects.filter(conversation_id=patient_message.conversation_id, id__lte=patient_message.id)
        .filter(Q(role=Message.Role.PATIENT) | Q(role=Message.Role.ASSISTANT, status=Message.Status.OK))
        .order_by("-id")
        .values_list("role", "content")[: max(1, settings.CHAT_HISTORY_MESSAGES)]
    )
    turns = [{"role": "user" if role == Message.Role.PATIENT else "assistant", "content": content}
             for role, content in reversed(history)]
    return [{"role": "system", "content": system}, *turns]


def with_resources(text: str, screen: InputScreen) -> str:
    if not screen.is_concern:
        return text
    return resources_added(text, safety.concern_resources_text(screen=screen))


def resources_added(text: str, resources: str) -> str:
    return f"{text.rstrip()}\n\n{resources}" if resources else text


def output_screen(text: str) -> OutputScreen | None:
    try:
        return screen_output(text)
    except Exception:
        log.exception("Output screen failed; the reply is withheld")
        return None


def output_screen_off_loop(text: str) -> OutputScreen | None:
    """``output_screen`` for a worker thread (a replacement template may come from the database)."""
    try:
        return output_screen(text)
    finally:
        close_old_connections()


def pooled_connection_release() -> None:
    """Give a pooled (PostgreSQL) connection back before a wait on the model, which may take
    a minute: a request holds one otherwise from its first query to its end, and a few dozen
    replies being generated at once would take the whole pool. Persistent SQLite connections
    stay; so does a connection inside a transaction (tests run in one)."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def answer(patient_message: Message, screen: InputScreen | None, update: Message | None = None) -> Message:
    """Ask the model (sync callers) and store the screened reply or the failure."""
    if screen is None:
        return reply_store(patient_message=patient_message, content="", status=Message.Status.FAILED,
                            failure_reason=SCREEN_UNAVAILABLE, update=update)
    if screen.is_crisis:
        return crisis_reply_store(patient_message, screen, update)
    provider = active_provider()
    prompt = prompt_build(patient_message, screen)
    pooled_connection_release()
    started = time.monotonic()
    try:
        if guard_enabled():  # the guard beside the model; a crisis from it stops the model's answer
            completion, raised = guarded_complete_sync(provider, prompt, screen)
            if raised is not screen:
                if raised.is_crisis:
                    return guard_crisis_store(patient_message, raised, update)
                input_verdict_store(patient_message, raised)
                screen = raised
            if isinstance(completion, ProviderError):
                raise completion
        else:
            completion = provider_complete_sync(provider, prompt)
    except ProviderError as exc:
        return reply_store(patient_message=patient_message, content="", status=Message.Status.FAILED,
                            failure_reason=exc.reason, provider=provider.name, model_name=provider.model,
                            latency_ms=int((time.monotonic() - started) * 1000), update=update)
    output = output_screen(completion.text)
    if output is None:
        return reply_store(patient_message=patient_message, content="", status=Message.Status.FAILED,
                            failure_reason=SCREEN_UNAVAILABLE, provider=provider.name, update=update)
    text = completion.text if output.safe else output.replacement
    return reply_store(
        patient_message=patient_message, content=with_resources(text, screen),
        provider=completion.provider or provider.name, model_name=completion.model,
        latency_ms=int((time.monotonic() - started) * 1000), usage=completion.usage, output=output,
        update=update, fallback_reason=completion.fallback_reason,
    )
