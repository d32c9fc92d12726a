"""Reads of conversations shared by the pages (and anyone else who needs them)."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from conversations.models import Conversation, Message


def conversations_of(*, patient) -> QuerySet[Conversation]:
    """The patient's own conversations, most recently active first, with message counts."""
    return Conversation.objects.owned_by(patient).annotate(message_count=Count("messages"))


def conversation_of_patient(*, patient, conversation_id: int) -> Conversation:
    """The patient's conversation; 404 for anyone else's (never a hint that it exists)."""
    return get_object_or_404(Conversation.objects.owned_by(patient), pk=conversation_id)


def transcript(*, conversation: Conversation) -> list[Message]:
    """Patient and assistant messages in order, as the patient sees them."""
    return list(
        conversation.messages.exclude(role=Message.Role.SYSTEM).order_by("created_at", "id")
    )


def reply_of_patient(*, patient, message_id: int) -> Message:
    """An assistant reply in one of the patient's conversations (404 otherwise)."""
    return get_object_or_404(
        Message.objects.filter(conversation__patient=patient, role=Message.Role.ASSISTANT), pk=message_id
    )
