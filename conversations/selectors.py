"""Reads of conversations shared by the pages (and anyone else who needs them)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from conversations.models import Conversation, Message


def conversations_of(*, patient) -> QuerySet[Conversation]:
    """The patient's own conversations, most recently active first, with message counts."""
    return Conversation.objects.owned_by(patient).annotate(message_count=Count("messages"))


def conversation_of_patient(*, patient, conversation_id: int) -> Conversation:
    """The patient's conversation; 404 for anyone else's (never a hint that it exists)."""
    return get_object_or_404(Conversation.objects.owned_by(patient), pk=conversation_id)


# A patient message still without a reply after this long was abandoned (a crash mid-answer).
UNANSWERED_AFTER = timedelta(minutes=2)


def transcript(*, conversation: Conversation) -> list[Message]:
    """Patient and assistant messages in order, as the patient sees them.

    Patient messages carry ``unanswered``: no reply was ever stored and none is coming.
    """
    stale = timezone.now() - UNANSWERED_AFTER
    messages = list(
        conversation.messages.exclude(role=Message.Role.SYSTEM)
        .annotate(answered=Exists(Message.objects.filter(reply_to=OuterRef("pk"))))
        .order_by("created_at", "id")
    )
    for message in messages:
        message.unanswered = (message.role == Message.Role.PATIENT and not message.answered
                              and message.created_at < stale)
    return messages


def retryable_of_patient(*, patient, message_id: int) -> Message:
    """A reply (or an unanswered message) in one of the patient's conversations (404 otherwise)."""
    return get_object_or_404(
        Message.objects.filter(conversation__patient=patient,
                               role__in=[Message.Role.ASSISTANT, Message.Role.PATIENT]), pk=message_id
    )
