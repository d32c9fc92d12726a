"""Writes for accounts and chat: sign-up, consent, conversations, messages and replies.

The order of a chat turn is what the guarantees in DESIGN.md rest on:

1. the patient's message is committed (before anything can fail upstream);
2. the input screen runs: ``crisis`` stores the fixed crisis reply, flags the conversation
   and never asks the model; ``concern`` adds guidance to the system prompt and resources
   to the reply;
3. the model answers; every piece of its text passes the output screen before the patient
   or the database sees it (an unsafe reply is replaced by the safe template);
4. the reply is stored ``ok``, or ``failed`` with the reason (and any text the patient
   already saw) when the provider fails. ``reply_retry`` answers the same patient message
   again, updating that failed reply in place: nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Conversation, Message, PatientProfile
from conversations.providers import (
    ChatProvider,
    ProviderError,
    Usage,
    active_provider,
    provider_complete_sync,
)
from conversations.safety import services as safety
from conversations.safety.screening import InputScreen, OutputScreen, screen_input, screen_output
from therapist_ai.roles import CLINICIANS, PATIENTS, STAFF, is_patient

log = logging.getLogger(__name__)
User = get_user_model()

SCREEN_UNAVAILABLE = "The safety check could not run, so the AI was not asked. Please try again."
INTERRUPTED = "The reply was interrupted because the server restarted."


# --- Accounts -------------------------------------------------------------------------------

def _audit(**kwargs) -> None:
    """``clinicians.services.audit_record`` when the curation app provides it."""
    try:
        from clinicians import services as clinician_services
    except ImportError:
        return
    audit_record = getattr(clinician_services, "audit_record", None)
    if audit_record is not None:
        audit_record(**kwargs)


@transaction.atomic
def patient_register(
    *, username: str, password: str, email: str, accept_terms: bool, training_consent: bool, phone: str = ""
) -> User:
    """Create a patient account. Terms are required; training consent is a separate choice."""
    username = username.strip()
    errors: dict[str, list[str]] = {}
    if not accept_terms:
        errors["accept_terms"] = ["You need to agree to the terms to use the service."]
    if not username:
        errors["username"] = ["Choose a username."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    user = User.objects.create_user(username=username, email=email.strip(), password=password)
    user.groups.add(Group.objects.get_or_create(name=PATIENTS)[0])
    now = timezone.now()
    PatientProfile.objects.create(
        user=user, phone=phone.strip(), terms_accepted_at=now,
        training_consent=bool(training_consent), training_consent_changed_at=now,
    )
    _audit(actor=user, action="patient.training_consent", target_type="user", target_id=user.pk,
           before="", after="granted" if training_consent else "declined", detail={"at": "sign-up"})
    return user


@transaction.atomic
def patient_consent_set(*, user, training_consent: bool, actor=None) -> PatientProfile:
    """Change whether the patient's conversations may train the model (timestamped, audited)."""
    profile = PatientProfile.objects.select_for_update().get(user=user)
    if profile.training_consent == bool(training_consent):
        return profile
    before = "granted" if profile.training_consent else "declined"
    profile.training_consent = bool(training_consent)
    profile.training_consent_changed_at = timezone.now()
    profile.save(update_fields=["training_consent", "training_consent_changed_at"])
    _audit(actor=actor or user, action="patient.training_consent", target_type="user", target_id=user.pk,
           before=before, after="granted" if training_consent else "declined")
    return profile


def roles_ensure() -> list[str]:
    """Create the role groups and attach ``ROLE_PERMISSIONS`` (idempotent).

    Returns the configured permissions that do not exist, so the caller can report them.
    """
    from django.contrib.auth.models import Permission

    from therapist_ai.roles import ROLE_GROUPS, ROLE_PERMISSIONS, sync_role_permissions

    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)
    sync_role_permissions()
    missing = []
    for dotted in sorted({p for perms in ROLE_PERMISSIONS.values() for p in perms}):
        app_label, codename = dotted.split(".", 1)
        if not Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists():
            missing.append(dotted)
    return missing


@dataclass(frozen=True)
class DemoAccount:
    role: str
    username: str
    password: str | None  # None: it already existed (its password is not known)


DEMO_ACCOUNTS = (("patient", "demo_patient", PATIENTS), ("clinician", "demo_clinician", CLINICIANS),
                 ("staff", "demo_staff", STAFF))


@transaction.atomic
def demo_accounts_ensure() -> list[DemoAccount]:
    """Demo patient, clinician and staff accounts with random passwords. Never when DEBUG=0."""
    if not settings.DEBUG:
        raise PermissionDenied("Demo accounts are only created when DEBUG=1.")
    accounts = []
    for role, username, group_name in DEMO_ACCOUNTS:
        if User.objects.filter(username=username).exists():
            accounts.append(DemoAccount(role, username, None))
            continue
        password = secrets.token_urlsafe(12)
        if group_name == PATIENTS:
            patient_register(username=username, password=password, email=f"{username}@example.com",
                             accept_terms=True, training_consent=False)
        else:
            user = User.objects.create_user(username=username, email=f"{username}@example.com",
                                            password=password, is_staff=True)
            user.groups.add(Group.objects.get_or_create(name=group_name)[0])
        accounts.append(DemoAccount(role, username, password))
    return accounts


# --- Conversations --------------------------------------------------------------------------

@transaction.atomic
def conversation_create(*, patient, title: str = "") -> Conversation:
    if not is_patient(patient):
        raise PermissionDenied("Only patients have conversations.")
    return Conversation.objects.create(patient=patient, title=title.strip()[:200])


@dataclass
class ChatTurn:
    patient_message: Message
    reply: Message | None
    safety: dict
    created: bool = True
    screen_ms: float | None = None  # how long the input screen took (Server-Timing)


@dataclass(frozen=True)
class StreamEvent:
    """One event of a streamed turn: ``patient``, ``delta``, ``replace``, ``done`` or ``error``."""

    type: str
    data: dict = field(default_factory=dict)
    screen_ms: float | None = None  # on ``patient``: how long the input screen took (Server-Timing)


def _content_clean(content: str) -> str:
    content = (content or "").strip()
    if not content:
        raise ValidationError({"content": ["Write a message first."]})
    if len(content) > settings.MESSAGE_MAX_CHARS:
        raise ValidationError(
            {"content": [f"Messages can be at most {settings.MESSAGE_MAX_CHARS} characters "
                         f"(this one has {len(content)})."]}
        )
    return content


def _safety_summary(level: str, categories) -> dict:
    return safety.safety_summary(level=level, categories=categories)


def _turn_of(patient_message: Message, *, created: bool) -> ChatTurn:
    reply = patient_message.replies.order_by("-id").first()
    return ChatTurn(patient_message, reply,
                    _safety_summary(patient_message.safety_level, patient_message.safety_categories), created)


def _patient_message_store(conversation: Conversation, content: str, idempotency_key: str | None):
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
                fields["title"] = _title_from(content)
            Conversation.objects.filter(pk=conversation.pk).update(**fields)
    except IntegrityError:
        if not idempotency_key:
            raise
        return conversation.messages.get(idempotency_key=idempotency_key), False
    conversation.title = fields.get("title", conversation.title)
    return message, True


def _title_from(content: str) -> str:
    first_line = content.splitlines()[0] if content else ""
    return first_line[:60] + ("…" if len(first_line) > 60 else "")


def _input_screen_run(text: str) -> InputScreen | None:
    """The input screen's verdict, or None when the screen itself failed (the model is then not asked)."""
    try:
        return screen_input(text)
    except Exception:
        log.exception("Input screen failed; the model is not asked")
        return None


def _input_screen_timed(text: str) -> tuple[InputScreen | None, float]:
    started = time.perf_counter()
    screen = _input_screen_run(text)
    return screen, (time.perf_counter() - started) * 1000


def _input_verdict_store(message: Message, screen: InputScreen | None) -> None:
    if screen is None:
        return
    level, categories = screen.level, list(screen.categories)
    if message.safety_level == level and list(message.safety_categories or []) == categories:
        return  # already what is stored: a new message starts as "none", as most stay (one write less)
    message.safety_level, message.safety_categories = level, categories
    Message.objects.filter(pk=message.pk).update(safety_level=level, safety_categories=categories)


def _input_screen(message: Message) -> tuple[InputScreen | None, float]:
    """Screen the committed message and store the verdict on it (sync callers); (verdict, ms)."""
    screen, screen_ms = _input_screen_timed(message.content)
    _input_verdict_store(message, screen)
    return screen, screen_ms


@transaction.atomic
def _reply_store(*, patient_message: Message, content: str, status: str = Message.Status.OK,
                 failure_reason: str = "", provider: str = "", model_name: str = "",
                 latency_ms: int | None = None, usage: Usage | None = None,
                 output: OutputScreen | None = None, update: Message | None = None) -> Message:
    """Store (or, for a retry, update in place) the assistant reply to ``patient_message``."""
    values = dict(
        content=content, status=status, failure_reason=failure_reason[:500], provider=provider,
        model_name=model_name, latency_ms=latency_ms,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        safety_level=Message.SafetyLevel.CONCERN if output and not output.safe else Message.SafetyLevel.NONE,
        safety_categories=list(output.categories) if output and not output.safe else [],
    )
    if update is not None:
        # Only a reply that is still failed may be overwritten: two retries never both win.
        if not Message.objects.filter(pk=update.pk, status=Message.Status.FAILED).update(**values):
            return Message.objects.get(pk=update.pk)
        reply = Message.objects.get(pk=update.pk)
    else:
        reply = Message.objects.create(
            conversation_id=patient_message.conversation_id, role=Message.Role.ASSISTANT,
            reply_to=patient_message, **values,
        )
    Conversation.objects.filter(pk=patient_message.conversation_id).update(updated_at=timezone.now())
    if output is not None and not output.safe:
        safety.output_replacement_record(message=reply, screen=output)
    return reply


def _crisis_reply_store(patient_message: Message, screen: InputScreen, update: Message | None = None) -> Message:
    reply = _reply_store(patient_message=patient_message, content=safety.crisis_reply_text(screen=screen),
                         provider="safety", model_name="crisis-template", latency_ms=0, update=update)
    safety.conversation_flag(conversation=patient_message.conversation, message=patient_message, screen=screen)
    return reply


def _prompt_build(patient_message: Message, screen: InputScreen) -> list[dict]:
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


def _with_resources(text: str, screen: InputScreen) -> str:
    if not screen.is_concern:
        return text
    return _resources_added(text, safety.concern_resources_text(screen=screen))


def _output_screen(text: str) -> OutputScreen | None:
    try:
        return screen_output(text)
    except Exception:
        log.exception("Output screen failed; the reply is withheld")
        return None


def _output_screen_off_loop(text: str) -> OutputScreen | None:
    """``_output_screen`` for a worker thread (a replacement template may come from the database)."""
    try:
        return _output_screen(text)
    finally:
        close_old_connections()


def _pooled_connection_release() -> None:
    """Give a pooled (PostgreSQL) connection back before a wait on the model, which may take
    a minute: a request holds one otherwise from its first query to its end, and a few dozen
    replies being generated at once would take the whole pool. Persistent SQLite connections
    stay; so does a connection inside a transaction (tests run in one)."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _answer(patient_message: Message, screen: InputScreen | None, update: Message | None = None) -> Message:
    """Ask the model (sync callers) and store the screened reply or the failure."""
    if screen is None:
        return _reply_store(patient_message=patient_message, content="", status=Message.Status.FAILED,
                            failure_reason=SCREEN_UNAVAILABLE, update=update)
    if screen.is_crisis:
        return _crisis_reply_store(patient_message, screen, update)
    provider = active_provider()
    prompt = _prompt_build(patient_message, screen)
    _pooled_connection_release()
    started = time.monotonic()
    try:
        completion = provider_complete_sync(provider, prompt)
    except ProviderError as exc:
        return _reply_store(patient_message=patient_message, content="", status=Message.Status.FAILED,
                            failure_reason=exc.reason, provider=provider.name, model_name=provider.model,
                            latency_ms=int((time.monotonic() - started) * 1000), update=update)
    output = _output_screen(completion.text)
    if output is None:
        return _reply_store(patient_message=patient_message, content="", status=Message.Status.FAILED,
                            failure_reason=SCREEN_UNAVAILABLE, provider=provider.name, update=update)
    text = completion.text if output.safe else output.replacement
    return _reply_store(
        patient_message=patient_message, content=_with_resources(text, screen), provider=provider.name,
        model_name=completion.model, latency_ms=int((time.monotonic() - started) * 1000),
        usage=completion.usage, output=output, update=update,
    )


def message_send(*, conversation: Conversation, content: str, idempotency_key: str | None = None) -> ChatTurn:
    """One whole chat turn (no streaming): used by the no-JS page and the REST API.

    Raises ``ValidationError`` for empty or oversize content. Provider failures never raise:
    the reply is stored ``failed`` with the reason. A repeated ``idempotency_key`` returns the
    first turn with ``created=False`` and asks nobody anything.
    """
    content = _content_clean(content)
    patient_message, created = _patient_message_store(conversation, content, idempotency_key)
    if not created:
        return _turn_of(patient_message, created=False)
    screen, screen_ms = _input_screen(patient_message)
    reply = _answer(patient_message, screen)
    return ChatTurn(patient_message, reply,
                    _safety_summary(patient_message.safety_level, patient_message.safety_categories),
                    screen_ms=screen_ms)


NO_REPLY = "No reply was stored (the server stopped while answering)."


@transaction.atomic
def _unanswered_claim(patient_message: Message) -> Message:
    """The reply slot of a patient message left without any reply: a failed reply to retry.

    The row lock (an IMMEDIATE transaction on SQLite) makes two concurrent claims agree.
    """
    locked = Message.objects.select_for_update().get(pk=patient_message.pk)
    existing = locked.replies.order_by("id").first()
    if existing is not None:
        return existing
    return Message.objects.create(conversation_id=locked.conversation_id, role=Message.Role.ASSISTANT,
                                  reply_to=locked, status=Message.Status.FAILED, failure_reason=NO_REPLY)


def reply_retry(*, message: Message) -> ChatTurn:
    """Answer a failed reply's patient message again, updating that reply in place.

    ``message`` may also be a patient message that never got a reply (a crash mid-answer):
    it is answered once. A reply that is no longer failed (a second click, a concurrent
    retry) is returned as is, with ``created=False``; the model is not asked again.
    """
    reply = Message.objects.select_related("reply_to__conversation").get(pk=message.pk)
    if reply.role == Message.Role.PATIENT:
        reply = _unanswered_claim(reply)
    if reply.role != Message.Role.ASSISTANT or reply.reply_to is None:
        raise ValidationError("Only an assistant reply can be retried.")
    patient_message = reply.reply_to
    if reply.status != Message.Status.FAILED:
        return _turn_of(patient_message, created=False)
    screen, _ = _input_screen(patient_message)
    _answer(patient_message, screen, update=reply)
    return _turn_of(patient_message, created=True)


# --- Streaming -------------------------------------------------------------------------------

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
    return _patient_message_store(conversation, _content_clean(content), None)[0]


def _stream_plan(patient_message: Message, screen: InputScreen | None) -> _StreamPlan:
    _input_verdict_store(patient_message, screen)
    plan = _StreamPlan(patient_message, screen)
    if screen is None or screen.is_crisis:
        plan.reply = _answer(patient_message, screen)
    else:
        plan.provider = active_provider()
        plan.prompt = _prompt_build(patient_message, screen)
        plan.resources = safety.concern_resources_text(screen=screen) if screen.is_concern else ""
    # Safety texts may come from the database: read here, in sync code, not on the event loop.
    plan.safety = _safety_summary(patient_message.safety_level, patient_message.safety_categories)
    return plan


def _stream_prepare(conversation: Conversation, content: str) -> _StreamPlan:
    """Everything before the model is asked, in one trip to a sync thread: commit the
    patient's message (first: nothing after it can lose it), screen it, store the verdict,
    then build the prompt or store the reply that needs no model (crisis, screen failure)."""
    patient_message = _stream_patient_message(conversation, content)
    screen, screen_ms = _input_screen_timed(patient_message.content)
    plan = _stream_plan(patient_message, screen)
    plan.screen_ms = screen_ms
    _pooled_connection_release()
    return plan


async def _stream_begin(conversation: Conversation, content: str) -> _StreamPlan:
    return await sync_to_async(_stream_prepare)(conversation, content)


def _done_event(reply: Message, safety_summary: dict) -> StreamEvent:
    data = {"reply_id": reply.pk, "status": reply.status, "provider": reply.provider,
            "model": reply.model_name, "safety": safety_summary}
    if reply.status == Message.Status.FAILED:
        return StreamEvent("error", {**data, "reason": reply.failure_reason, "partial": reply.content})
    return StreamEvent("done", data)


def _resources_added(text: str, resources: str) -> str:
    return f"{text.rstrip()}\n\n{resources}" if resources else text


async def _stream_generate(plan: _StreamPlan, emit: Callable[[StreamEvent | None], None]) -> None:
    """Drive the provider, screen as text arrives, store the reply; events go to ``emit``.

    Text is screened and released at the last sentence end of what has arrived: one screen
    per batch the provider yields (a busy server reads several chunks at once, and screens
    them together), never text the screen has not passed.
    """
    screen_async = sync_to_async(_output_screen_off_loop, thread_sensitive=False)
    store = sync_to_async(_reply_store)
    provider, started = plan.provider, time.monotonic()
    received, shown, usage, output = "", 0, Usage(), OutputScreen()
    failure, interrupted = "", False
    chunks = provider.stream(plan.prompt)
    try:
        async for item in chunks:
            if isinstance(item, Usage):
                usage = item
                continue
            received += item
            cut = _release_point(received, shown)
            if cut > shown:
                output = await screen_async(received[:cut])
                if output is None or not output.safe:
                    break
                emit(StreamEvent("delta", {"text": received[shown:cut]}))
                shown = cut
        if output is not None and output.safe and shown < len(received):
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
    latency = int((time.monotonic() - started) * 1000)
    common = dict(patient_message=plan.patient_message, provider=provider.name, latency_ms=latency)
    if output is None:
        reply = await store(**common, content="", status=Message.Status.FAILED, failure_reason=SCREEN_UNAVAILABLE)
        emit(StreamEvent("replace", {"text": ""}))
    elif not output.safe:
        text = _resources_added(output.replacement, plan.resources)
        reply = await store(**common, content=text, model_name=provider.model, usage=usage, output=output)
        emit(StreamEvent("replace", {"text": text}))
    elif failure:
        # What the patient already saw is kept, marked failed: it is what it is, a partial reply.
        reply = await store(**common, content=received[:shown], status=Message.Status.FAILED,
                            failure_reason=failure, model_name=provider.model)
    else:
        text = _resources_added(received, plan.resources)
        if text != received:
            emit(StreamEvent("delta", {"text": text[len(received):]}))
        reply = await store(**common, content=text, model_name=provider.model, usage=usage, output=output)
    emit(_done_event(reply, plan.safety))
    if interrupted:
        raise asyncio.CancelledError


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
            reply = await sync_to_async(_reply_store)(
                patient_message=patient, content="", status=Message.Status.FAILED,
                failure_reason="The reply could not be completed because of an internal error.")
            queue.put_nowait(_done_event(reply, plan.safety))
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
