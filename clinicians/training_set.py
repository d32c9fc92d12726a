"""The training set's one definition: which messages may be trained on, and the examples built
from them (redacted text, in chat format). The export command and the training run both read
it here, so what is exported is exactly what training would see.

Only approved, consented, redacted text: a message counts when its conversation is approved
through it, the patient consents (at export time by default), it is not excluded, and (for a
crisis-flagged conversation) a clinician included it on purpose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from clinicians import redaction
from clinicians.flags import crisis_exists
from clinicians.models import ApprovalRange, MessageExclusion, Redaction, Review
from conversations.models import Conversation, Message

PATIENT, ASSISTANT = Message.Role.PATIENT, Message.Role.ASSISTANT
CHAT_ROLES = {PATIENT: "user", ASSISTANT: "assistant"}
CHUNK_SIZE = 2000




@dataclass(frozen=True)
class TrainingExample:
    conversation_id: int
    message_ids: list[int]
    messages: list[dict]  # [{"role": "system"|"user"|"assistant", "content": redacted text}]
    redaction_hash: str  # sha256 of the exact (redacted) text trained on

    def as_json(self) -> str:
        return json.dumps(
            {
                "conversation_id": self.conversation_id,
                "message_ids": self.message_ids,
                "redaction_hash": self.redaction_hash,
                "messages": self.messages,
            },
            ensure_ascii=False,
        )


def eligible_conversations(*, consent_at_export: bool = True) -> QuerySet:
    """Approved, (consented now), and not crisis-flagged unless a clinician included it.
    Erased patients have no conversations left, so they are never here."""
    qs = Conversation.objects.filter(review__status=Review.Status.APPROVED)
    if consent_at_export:
        qs = qs.filter(patient__patient_profile__training_consent=True)
    return qs.annotate(crisis_flagged=crisis_exists()).filter(
        Q(crisis_flagged=False) | Q(review__include_despite_crisis=True)
    )


def eligible_messages(*, consent_at_export: bool = True, approved_after: datetime | None = None) -> QuerySet:
    """Messages in the approved part of eligible conversations, chat roles, not excluded."""
    qs = Message.objects.filter(
        conversation__in=eligible_conversations(consent_at_export=consent_at_export).values("pk"),
        id__lte=F("conversation__review__approved_through_message_id"),
        role__in=[PATIENT, ASSISTANT],
    ).annotate(is_excluded=Exists(MessageExclusion.objects.filter(message_id=OuterRef("pk"))))
    if approved_after is not None:
        qs = qs.filter(
            Exists(
                ApprovalRange.objects.filter(
                    conversation_id=OuterRef("conversation_id"),
                    after_message_id__lt=OuterRef("pk"),
                    through_message_id__gte=OuterRef("pk"),
                    approved_at__gt=approved_after,
                )
            )
        )
    return qs


def _countable(qs: QuerySet) -> QuerySet:
    """The SQL side of what ``training_examples`` drops message by message."""
    dropped_parent = Q(reply_to__safety_level=Message.SafetyLevel.CRISIS) | Q(
        reply_to__exclusion__isnull=False
    )
    return qs.filter(is_excluded=False, status=Message.Status.OK).exclude(
        safety_level=Message.SafetyLevel.CRISIS
    ).exclude(dropped_parent)


def training_message_count(*, approved_after: datetime | None = None, consent_at_export: bool = True) -> int:
    """Approved, consented, eligible messages (optionally only those approved after a time)."""
    return _countable(
        eligible_messages(consent_at_export=consent_at_export, approved_after=approved_after)
    ).count()


def _peekable_redactions(consent_at_export: bool):
    rows = (
        Redaction.objects.filter(
            state=Redaction.State.ACCEPTED,
            conversation__in=eligible_conversations(consent_at_export=consent_at_export).values("pk"),
        )
        .order_by("conversation_id", "message_id", "start")
        .values_list("conversation_id", "message_id", "start", "end", "replacement")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return _Merge(rows)


class _Merge:
    """Walks the redaction stream in step with the message stream (both in (conversation, message) order)."""

    def __init__(self, rows):
        self._rows = rows
        self._head = next(rows, None)

    def spans_for(self, conversation_id: int, message_id: int) -> list[tuple[int, int, str]]:
        spans = []
        key = (conversation_id, message_id)
        while self._head is not None and (self._head[0], self._head[1]) <= key:
            if (self._head[0], self._head[1]) == key:
                spans.append((self._head[2], self._head[3], self._head[4]))
            self._head = next(self._rows, None)
        return spans


@dataclass
class _Builder:
    conversation_id: int
    turns: list[list] = field(default_factory=list)  # [role, [texts], [ids]]
    dropped: set[int] = field(default_factory=set)

    def add(self, role: str, text: str, message_id: int) -> None:
        if self.turns and self.turns[-1][0] == role:
            self.turns[-1][1].append(text)
            self.turns[-1][2].append(message_id)
        elif self.turns or role == "user":
            self.turns.append([role, [text], [message_id]])
        else:
            self.dropped.add(message_id)  # a reply before any patient turn has no prompt

    def build(self) -> TrainingExample | None:
        turns = self.turns
        while turns and turns[-1][0] != "assistant":
            turns = turns[:-1]  # a trailing patient turn has no reply to learn from
        if not turns:
            return None
        messages = [{"role": "system", "content": settings.THERAPIST_SYSTEM_PROMPT}]
        ids: list[int] = []
        digest = hashlib.sha256()
        for role, texts, message_ids in turns:
            content = "\n\n".join(texts)
            messages.append({"role": role, "content": content})
            ids.extend(message_ids)
            digest.update(f"{role}\x1f{message_ids}\x1f{content}\x1e".encode())
        return TrainingExample(self.conversation_id, ids, messages, digest.hexdigest())


def _keep(row, builder: _Builder) -> bool:
    message_id, _, role, _, status, safety_level, reply_to_id, is_excluded = row
    if is_excluded or status != Message.Status.OK or safety_level == Message.SafetyLevel.CRISIS:
        return False  # crisis turns get the fixed template: nothing for a model to learn
    return not (role == ASSISTANT and reply_to_id in builder.dropped)


@contextmanager
def _plans_for_whole_results():
    """PostgreSQL plans cursor queries for the first 10% of rows (``cursor_tuple_fraction``);
    with stale statistics that picks per-row nested loops that take minutes. The export
    reads every row, so plan for all of them."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1.0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


def training_examples(*, consent_at_export: bool = True) -> Iterator[TrainingExample]:
    """THE training set: approved, consented now, not erased, not excluded, not
    crisis-flagged unless explicitly included, redacted text only, in chat format.
    Streams with constant memory (two server-side cursors walked in step).
    ``consent_at_export=False`` skips the consent check: for counting what consent
    leaves out, never for building a training set."""
    with _plans_for_whole_results():
        yield from _examples(consent_at_export)


def _examples(consent_at_export: bool) -> Iterator[TrainingExample]:
    rows = (
        eligible_messages(consent_at_export=consent_at_export)
        .order_by("conversation_id", "id")
        .values_list("id", "conversation_id", "role", "content", "status", "safety_level",
                     "reply_to_id", "is_excluded")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    redactions = _peekable_redactions(consent_at_export)
    builder: _Builder | None = None
    for row in rows:
        message_id, conversation_id, role, content = row[:4]
        if builder is None or builder.conversation_id != conversation_id:
            if builder is not None and (example := builder.build()) is not None:
                yield example
            builder = _Builder(conversation_id)
        if not _keep(row, builder):
            builder.dropped.add(message_id)
            continue
        text = redaction.apply(content, redactions.spans_for(conversation_id, message_id))
        builder.add(CHAT_ROLES[role], text, message_id)
    if builder is not None and (example := builder.build()) is not None:
        yield example
