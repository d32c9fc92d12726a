"""Whole chat turns (the REST API, the page without JavaScript) and retries of failed replies."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.turns import (
    ChatTurn,
    answer,
    content_clean,
    input_screen,
    patient_message_store,
    safety_summary,
    turn_of,
)
from therapist_ai.roles import is_patient


@transaction.atomic
def conversation_create(*, patient, title: str = "") -> Conversation:
    if not is_patient(patient):
        raise PermissionDenied("Only patients have conversations.")
    return Conversation.objects.create(patient=patient, title=title.strip()[:200])


def message_send(*, conversation: Conversation, content: str, idempotency_key: str | None = None) -> ChatTurn:
    """One whole chat turn (no streaming): used by the no-JS page and the REST API.

    Raises ``ValidationError`` for empty or oversize content. Provider failures never raise:
    the reply is stored ``failed`` with the reason. A repeated ``idempotency_key`` returns the
    first turn with ``created=False`` and asks nobody anything.
    """
    content = content_clean(content)
    patient_message, created = patient_message_store(conversation, content, idempotency_key)
    if not created:
        return turn_of(patient_message, created=False)
    screen, screen_ms = input_screen(patient_message)
    reply = answer(patient_message, screen)
    return ChatTurn(patient_message, reply,
                    safety_summary(patient_message.safety_level, patient_message.safety_categories),
                    screen_ms=screen_ms)


NO_REPLY = "No reply was stored (the server stopped while answering)."


# A retry that claimed a reply and has not stored an answer after this long died with its process.
RETRY_CLAIM_SECONDS = 120


def _unanswered_claim(patient_message: Message) -> Message:
    """The reply slot of a patient message left without any reply: a failed reply to retry.

    The row lock (an IMMEDIATE transaction on SQLite) and the one-reply constraint make two
    concurrent claims agree (and a first answer still in flight cannot add a second reply).
    """
    try:
        with transaction.atomic():
            locked = Message.objects.select_for_update().get(pk=patient_message.pk)
            existing = locked.replies.order_by("id").first()
            if existing is not None:
                return existing
            return Message.objects.create(conversation_id=locked.conversation_id, role=Message.Role.ASSISTANT,
                                          reply_to=locked, status=Message.Status.FAILED, failure_reason=NO_REPLY)
    except IntegrityError:  # the first answer (or another claim) stored its reply just now
        return patient_message.replies.get()


def _retry_claim(reply: Message) -> bool:
    """failed -> pending, atomically: exactly one retry asks the model (an abandoned claim may be
    taken over)."""
    now = timezone.now()
    stale = now - timedelta(seconds=RETRY_CLAIM_SECONDS)
    return bool(Message.objects.filter(pk=reply.pk).filter(
        Q(status=Message.Status.FAILED) | Q(status=Message.Status.PENDING, claimed_at__lt=stale)
    ).update(status=Message.Status.PENDING, claimed_at=now))


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
    if not _retry_claim(reply):  # answered already, or another retry is answering it now
        return turn_of(patient_message, created=False)
    screen, _ = input_screen(patient_message)
    answer(patient_message, screen, update=reply)
    return turn_of(patient_message, created=True)
