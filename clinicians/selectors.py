"""Reads other code shares: the review queue, transcripts with their redactions, the final scan.
The training set is defined in ``clinicians.training_set``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Case,
    Count,
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
from clinicians.flags import with_flag_rank
from clinicians.models import DenyListEntry, MessageExclusion, Redaction, Review, Transcript
from conversations.models import Conversation, Message
from conversations.safety.selectors import with_flag_state

CHAT_ROLES = {Message.Role.PATIENT: "user", Message.Role.ASSISTANT: "assistant"}


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


def unscanned_count(conversation: Conversation) -> int:
    """Messages not yet scanned for redaction suggestions (the worker scans them within a minute)."""
    review = Review.objects.filter(conversation=conversation).first()
    return conversation.messages.filter(id__gt=review.suggested_through_message_id if review else 0).count()
