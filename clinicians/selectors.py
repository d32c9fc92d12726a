"""Reads other code shares: the training set (its one definition), the review queue,
transcripts with their redactions, the final scan, a patient's own data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from clinicians import redaction
from clinicians.flags import crisis_exists, with_flag_rank
from clinicians.models import (
    ApprovalRange,
    AuditEvent,
    DenyListEntry,
    MessageExclusion,
    Redaction,
    Review,
    Transcript,
)
from conversations.models import Conversation, Message
from conversations.safety.selectors import with_flag_state

PATIENT, ASSISTANT = Message.Role.PATIENT, Message.Role.ASSISTANT
CHAT_ROLES = {PATIENT: "user", ASSISTANT: "assistant"}
CHUNK_SIZE = 2000


# --- the training set -------------------------------------------------------------------


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


# --- the review queue -------------------------------------------------------------------


def _message_subquery(aggregate):
    return Subquery(
        Message.objects.filter(conversation_id=OuterRef("pk"))
        .order_by()
        .values("conversation_id")
        .annotate(value=aggregate)
        .values("value")[:1]
    )


def transcript_queue() -> QuerySet:
    """Transcripts for review, flagged then newest first, with status in one query."""
    qs = with_flag_state(queue_ordered()).select_related(
        "patient", "patient__patient_profile", "review", "review__reviewer")
    return with_review_state(qs)


QUEUE_ORDER = ("-flag_open", "-flag_rank", "-updated_at", "-id")


def queue_ordered() -> QuerySet:
    """The queue with only what ordering needs; page it, then ``queue_page`` the page."""
    return with_flag_rank(Transcript.objects.all()).order_by(*QUEUE_ORDER)


def queue_page(ids: list[int]) -> list:
    """Fully annotated rows for one page of ids, in the same order (one query)."""
    qs = with_flag_state(queue_ordered()).select_related(
        "patient", "patient__patient_profile", "review", "review__reviewer")
    rows = {row.pk: row for row in with_review_state(qs).filter(pk__in=ids)}
    return [rows[pk] for pk in ids if pk in rows]


def with_review_state(qs: QuerySet) -> QuerySet:
    """Message counts and the queue status (pending / approved / rejected)."""
    if "queue_status" in qs.query.annotations:
        return qs
    qs = qs.annotate(
        message_count=Coalesce(_message_subquery(Count("id")), 0),
        last_message_id=_message_subquery(Max("id")),
        last_message_at=_message_subquery(Max("created_at")),
    )
    return qs.annotate(
        queue_status=Case(
            When(review__status=Review.Status.REJECTED, then=Value("rejected")),
            When(
                review__status=Review.Status.APPROVED,
                review__approved_through_message_id__gte=Coalesce(F("last_message_id"), 0),
                then=Value("approved"),
            ),
            default=Value("pending"),
        ),
        pending_messages=Case(
            When(review__status=Review.Status.APPROVED, then=_new_message_count()),
            When(review__status=Review.Status.REJECTED, then=Value(0)),
            default=F("message_count"),
            output_field=IntegerField(),
        ),
    )


def _new_message_count():
    return Coalesce(
        Subquery(
            Message.objects.filter(
                conversation_id=OuterRef("pk"), id__gt=OuterRef("review__approved_through_message_id")
            )
            .order_by()
            .values("conversation_id")
            .annotate(n=Count("id"))
            .values("n")[:1]
        ),
        0,
    )


def queue_filter(qs: QuerySet, *, status: str = "", consent: str = "", flag: str = "",
                 since: datetime | None = None, search: str = "") -> QuerySet:
    """The filters the admin and the API share."""
    if status:
        qs = with_review_state(qs).filter(queue_status=status)
    if consent in {"yes", "no"}:
        consented = Q(patient__patient_profile__training_consent=True)
        qs = qs.filter(consented) if consent == "yes" else qs.exclude(consented)
    if flag == "crisis":
        qs = qs.filter(flag_rank=2)
    elif flag == "concern":
        qs = qs.filter(flag_rank=1)
    elif flag == "none":
        qs = qs.filter(flag_rank=0)
    if since is not None:
        qs = qs.filter(updated_at__gte=since)
    if search:
        query = Q(title__icontains=search) | Q(patient__username__icontains=search)
        if search.isdigit():
            query |= Q(pk=int(search))
        qs = qs.filter(query)
    return qs


# --- one transcript ---------------------------------------------------------------------


def patient_identifiers(user) -> redaction.Identifiers:
    profile = getattr(user, "patient_profile", None)
    names = tuple(n for n in (user.first_name, user.last_name, user.username) if n)
    return redaction.Identifiers(
        names=names,
        emails=(user.email,) if user.email else (),
        phones=(profile.phone,) if profile is not None and profile.phone else (),
        deny_terms=tuple(DenyListEntry.objects.values_list("term", "label")),
    )


@dataclass
class MessageView:
    message: Message
    redactions: list[Redaction]
    excluded: bool
    approved: bool

    @property
    def segments(self) -> list[tuple[str, Redaction | None]]:
        """The original text cut at every (non-dismissed) span, for highlighting."""
        out, pos, text = [], 0, self.message.content
        for r in self.redactions:
            if r.state == Redaction.State.DISMISSED:
                continue
            out.append((text[pos:r.start], None))
            out.append((text[r.start:r.end], r))
            pos = r.end
        out.append((text[pos:], None))
        return [(t, r) for t, r in out if t or r is not None]

    @property
    def redacted(self) -> str:
        return redaction.apply(self.message.content, accepted_spans(self.redactions))


def accepted_spans(redactions) -> list[tuple[int, int, str]]:
    return [(r.start, r.end, r.replacement) for r in redactions if r.state == Redaction.State.ACCEPTED]


def transcript_messages(conversation: Conversation) -> list[MessageView]:
    review = Review.objects.filter(conversation=conversation).first()
    watermark = (
        review.approved_through_message_id
        if review is not None and review.status == Review.Status.APPROVED
        else None
    )
    spans: dict[int, list[Redaction]] = {}
    for r in Redaction.objects.filter(conversation=conversation).order_by("message_id", "start"):
        spans.setdefault(r.message_id, []).append(r)
    excluded = set(MessageExclusion.objects.filter(conversation=conversation).values_list("message_id", flat=True))
    return [
        MessageView(m, spans.get(m.pk, []), m.pk in excluded, watermark is not None and m.pk <= watermark)
        for m in conversation.messages.order_by("id")
    ]


@dataclass(frozen=True)
class Finding:
    message_id: int
    label: str
    detector: str
    start: int
    end: int
    text: str  # shown to the clinician; never written to the audit log

    def describe(self) -> str:
        return f"{self.label} ({self.detector}) in message {self.message_id}: “{self.text}”"


def final_scan(conversation: Conversation, *, through_message_id: int, after_message_id: int = 0) -> list[Finding]:
    """Scan the redacted text of everything about to be approved (messages after the part
    already approved). A finding the clinician dismissed in that message is not reported again."""
    identifiers = patient_identifiers(conversation.patient)
    findings = []
    for view in transcript_messages(conversation):
        m = view.message
        if not after_message_id < m.pk <= through_message_id or view.excluded or m.role not in CHAT_ROLES:
            continue
        dismissed = {
            m.content[r.start:r.end].casefold()
            for r in view.redactions if r.state == Redaction.State.DISMISSED
        }
        text = view.redacted
        for s in redaction.suggest(text, identifiers):
            if text[s.start:s.end].casefold() not in dismissed:
                findings.append(Finding(m.pk, s.label, s.detector, s.start, s.end, text[s.start:s.end]))
    return findings


# --- a patient's own data ----------------------------------------------------------------


def patient_data_export(user) -> dict:
    """Everything we hold about a patient, for them to download (JSON-serialisable)."""
    profile = getattr(user, "patient_profile", None)
    consent_history = [
        {"at": e.created_at.isoformat(), "from": e.before, "to": e.after}
        for e in AuditEvent.objects.filter(
            action="patient.training_consent", target_type="user", target_id=str(user.pk)
        ).order_by("created_at", "id")
    ]
    conversations = []
    for c in Conversation.objects.filter(patient=user).order_by("created_at", "id").prefetch_related("messages"):
        conversations.append({
            "id": c.pk, "title": c.title, "created_at": c.created_at.isoformat(),
            "messages": [
                {"id": m.pk, "role": m.role, "content": m.content, "created_at": m.created_at.isoformat(),
                 "status": m.status, "safety_level": m.safety_level}
                for m in c.messages.all()
            ],
        })
    return {
        "account": {"username": user.username, "email": user.email, "first_name": user.first_name,
                    "last_name": user.last_name, "date_joined": user.date_joined.isoformat()},
        "profile": None if profile is None else {
            "phone": profile.phone,
            "terms_accepted_at": profile.terms_accepted_at.isoformat(),
            "training_consent": profile.training_consent,
            "training_consent_changed_at": profile.training_consent_changed_at.isoformat(),
        },
        "consent_history": consent_history,
        "conversations": conversations,
    }


def training_progress() -> dict:
    """Approved messages waiting for the next training run vs the threshold (admin index)."""
    try:
        from training.selectors import training_progress as from_training
    except ImportError:
        from_training = None
    if from_training is not None:
        return from_training()
    return {"pending": training_message_count(), "threshold": settings.AUTO_TRAIN_THRESHOLD}
