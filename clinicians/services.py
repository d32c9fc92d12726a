"""Every write curation makes: reviews, redactions, exclusions.

The admin, the API and the management commands all call these; each one audits itself
(``therapist_ai.audit``).
Review changes lock the conversation row first (``select_for_update``; on SQLite the
IMMEDIATE transaction serialises writers), so two clinicians approving the same
transcript at once produce one approval and one clear error.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clinicians import redaction, selectors
from clinicians.models import ApprovalRange, DenyListEntry, MessageExclusion, Redaction, Review
from clinicians.signals import transcript_approved
from conversations.models import Conversation, Message
from therapist_ai.audit import audit_record

logger = logging.getLogger(__name__)


class CurationError(ValueError):
    """A curation request that cannot be carried out; the message says why, for people."""


class ConversationGone(CurationError):
    pass


class ReviewConflict(CurationError):
    pass


class RedactionError(CurationError):
    pass


class FinalScanFailed(CurationError):
    def __init__(self, findings: list[selectors.Finding]):
        self.findings = findings
        names = "; ".join(f.describe() for f in findings[:5])
        more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
        super().__init__(
            f"The final scan still finds identifying details: {names}{more}. "
            "Redact them, or approve with an override reason."
        )


# --- reviews ----------------------------------------------------------------------------


def _locked(conversation: Conversation) -> tuple[Conversation, Review]:
    try:
        locked = Conversation.objects.select_for_update().select_related("patient").get(pk=conversation.pk)
    except Conversation.DoesNotExist:
        raise ConversationGone(
            f"Conversation {conversation.pk} no longer exists (the patient erased their data)."
        ) from None
    review, _ = Review.objects.get_or_create(conversation=locked)
    return locked, review


def _status(review: Review) -> str:
    return review.status


@transaction.atomic
def transcript_approve(*, conversation: Conversation, clinician, override_reason: str = "") -> Review:
    """Approve everything in the transcript so far for training (the final scan must pass)."""
    conversation, review = _locked(conversation)
    last_id = conversation.messages.aggregate(last=Max("id"))["last"]
    if last_id is None:
        raise ReviewConflict("This conversation has no messages to approve.")
    already = review.approved_through_message_id if review.status == Review.Status.APPROVED else 0
    if already >= last_id:
        who = review.reviewer.get_username() if review.reviewer else "someone"
        raise ReviewConflict(
            f"Conversation {conversation.pk} is already approved (by {who} at "
            f"{timezone.localtime(review.reviewed_at):%Y-%m-%d %H:%M})."
        )
    findings = selectors.final_scan(conversation, after_message_id=already, through_message_id=last_id)
    override_reason = override_reason.strip()
    if findings and not override_reason:
        raise FinalScanFailed(findings)
    before = _status(review)
    now = timezone.now()
    ApprovalRange.objects.create(review=review, conversation=conversation, after_message_id=already,
                                 through_message_id=last_id, approved_at=now, approved_by=clinician)
    review.status = Review.Status.APPROVED
    review.approved_through_message_id = last_id
    review.reviewer, review.reviewed_at, review.reason = clinician, now, ""
    review.override_reason = override_reason if findings else ""
    review.save()
    newly = conversation.messages.filter(id__gt=already, id__lte=last_id).count()
    audit_record(
        actor=clinician, action="review.approve", target_type="conversation", target_id=conversation.pk,
        before=before, after=review.status,
        detail={"approved_through_message_id": last_id, "newly_approved_messages": newly,
                "override": bool(findings),
                "final_scan_findings": [[f.message_id, f.label, f.start, f.end] for f in findings]},
    )
    conversation_id = conversation.pk
    transaction.on_commit(lambda: transcript_approved.send(
        sender=Review, conversation_id=conversation_id, approved_through_message_id=last_id,
        message_count=newly))
    return review


@transaction.atomic
def transcript_reject(*, conversation: Conversation, clinician, reason: str) -> Review:
    """Keep the whole transcript out of training, with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ReviewConflict("A rejection needs a reason.")
    conversation, review = _locked(conversation)
    if review.status == Review.Status.REJECTED:
        raise ReviewConflict(f"Conversation {conversation.pk} is already rejected.")
    before = _status(review)
    review.ranges.all().delete()
    review.status, review.approved_through_message_id = Review.Status.REJECTED, None
    review.reviewer, review.reviewed_at, review.reason = clinician, timezone.now(), reason
    review.override_reason = ""
    review.save()
    audit_record(actor=clinician, action="review.reject", target_type="conversation",
                 target_id=conversation.pk, before=before, after=review.status,
                 detail={"reason_length": len(reason)})
    return review


def _reopen(review: Review, *, actor, why: str) -> None:
    """Withdraw an approval (a redaction was loosened inside the approved part)."""
    if review.status != Review.Status.APPROVED:
        return
    review.ranges.all().delete()
    review.status, review.approved_through_message_id = Review.Status.PENDING, None
    review.save()
    audit_record(actor=actor, action="review.reopen", target_type="conversation",
                 target_id=review.conversation_id, before=Review.Status.APPROVED,
                 after=Review.Status.PENDING, detail={"why": why})


@transaction.atomic
def transcript_crisis_include(*, conversation: Conversation, clinician, include: bool, reason: str = "") -> Review:
    """Let a crisis-flagged transcript into training (or take it back out)."""
    reason = (reason or "").strip()
    if include and not reason:
        raise ReviewConflict("Including a crisis-flagged transcript needs a reason.")
    conversation, review = _locked(conversation)
    before = "included" if review.include_despite_crisis else "excluded"
    review.include_despite_crisis = include
    review.crisis_inclusion_reason = reason if include else ""
    review.save()
    audit_record(actor=clinician, action="review.crisis_inclusion", target_type="conversation",
                 target_id=conversation.pk, before=before, after="included" if include else "excluded")
    return review


@transaction.atomic
def message_exclude(*, message: Message, clinician, reason: str = "") -> MessageExclusion:
    conversation, _ = _locked(message.conversation)
    exclusion, created = MessageExclusion.objects.get_or_create(
        message=message, defaults={"conversation": conversation, "reason": reason.strip(),
                                   "excluded_by": clinician})
    if not created:
        raise ReviewConflict(f"Message {message.pk} is already excluded.")
    audit_record(actor=clinician, action="message.exclude", target_type="message", target_id=message.pk,
                 before="included", after="excluded", detail={"conversation_id": conversation.pk})
    return exclusion


@transaction.atomic
def message_include(*, message: Message, clinician) -> None:
    conversation, review = _locked(message.conversation)
    deleted, _ = MessageExclusion.objects.filter(message=message).delete()
    if not deleted:
        raise ReviewConflict(f"Message {message.pk} is not excluded.")
    if review.status == Review.Status.APPROVED and message.pk <= (review.approved_through_message_id or 0):
        _reopen(review, actor=clinician, why="excluded message put back")
    audit_record(actor=clinician, action="message.include", target_type="message", target_id=message.pk,
                 before="excluded", after="included", detail={"conversation_id": conversation.pk})


# --- redactions -------------------------------------------------------------------------


def _check_span(message: Message, start: int, end: int, *, ignore_id: int | None = None) -> None:
    if not (isinstance(start, int) and isinstance(end, int)):
        raise RedactionError("Span start and end must be whole numbers.")
    if start < 0 or end > len(message.content) or start >= end:
        raise RedactionError(
            f"Span {start}-{end} is outside message {message.pk} (its text has "
            f"{len(message.content)} characters; start must be before end)."
        )
    clash = (
        Redaction.objects.filter(message=message, start__lt=end, end__gt=start)
        .exclude(state=Redaction.State.DISMISSED)
        .exclude(pk=ignore_id)
        .first()
    )
    if clash is not None:
        raise RedactionError(
            f"Span {start}-{end} overlaps redaction {clash.pk} ({clash.label} {clash.start}-{clash.end}, "
            f"{clash.state}); dismiss that one first or choose another span."
        )


@transaction.atomic
def redaction_add(*, message: Message, start: int, end: int, label: str, clinician,
                  replacement: str = "") -> Redaction:
    """A clinician's own redaction (accepted as soon as it is made)."""
    if label not in Redaction.Label.values:
        raise RedactionError(f"Unknown label {label!r}; use one of {', '.join(Redaction.Label.values)}.")
    conversation, _ = _locked(message.conversation)
    _check_span(message, start, end)
    r = Redaction.objects.create(
        message=message, conversation=conversation, start=start, end=end, label=label,
        replacement=(replacement.strip() or f"[{label}]")[:40], source=Redaction.Source.MANUAL,
        state=Redaction.State.ACCEPTED, created_by=clinician, decided_by=clinician,
        decided_at=timezone.now(),
    )
    audit_record(actor=clinician, action="redaction.add", target_type="redaction", target_id=r.pk,
                 after=r.state, detail={"message_id": message.pk, "conversation_id": conversation.pk,
                                        "start": start, "end": end, "label": label})
    return r


def _decide(redaction_obj: Redaction, *, clinician, state: str) -> Redaction:
    _, review = _locked(redaction_obj.conversation)
    r = Redaction.objects.select_related("message").get(pk=redaction_obj.pk)
    if r.state == state:
        raise RedactionError(f"Redaction {r.pk} is already {state}.")
    if state == Redaction.State.ACCEPTED:
        _check_span(r.message, r.start, r.end, ignore_id=r.pk)
    before = r.state
    r.state, r.decided_by, r.decided_at = state, clinician, timezone.now()
    r.save(update_fields=["state", "decided_by", "decided_at"])
    if (before == Redaction.State.ACCEPTED and review.status == Review.Status.APPROVED
            and r.message_id <= (review.approved_through_message_id or 0)):
        _reopen(review, actor=clinician, why="accepted redaction dismissed")
    audit_record(actor=clinician, action=f"redaction.{'accept' if state == 'accepted' else 'dismiss'}",
                 target_type="redaction", target_id=r.pk, before=before, after=state,
                 detail={"message_id": r.message_id, "conversation_id": r.conversation_id,
                         "label": r.label, "start": r.start, "end": r.end})
    return r


@transaction.atomic
def redaction_accept(*, redaction: Redaction, clinician) -> Redaction:
    return _decide(redaction, clinician=clinician, state=Redaction.State.ACCEPTED)


@transaction.atomic
def redaction_dismiss(*, redaction: Redaction, clinician) -> Redaction:
    return _decide(redaction, clinician=clinician, state=Redaction.State.DISMISSED)


@transaction.atomic
def redactions_accept_all(*, conversation: Conversation, clinician) -> int:
    """Accept every pending suggestion in the transcript (each one audited); returns how many."""
    pending = Redaction.objects.filter(conversation=conversation, state=Redaction.State.SUGGESTED).order_by("id")
    count = 0
    for r in pending:
        _decide(r, clinician=clinician, state=Redaction.State.ACCEPTED)
        count += 1
    return count


@transaction.atomic
def redactions_suggest(*, conversation: Conversation, actor=None) -> int:
    """Scan messages not scanned before and store suggestions; returns how many were added."""
    conversation, review = _locked(conversation)
    messages = list(conversation.messages.filter(id__gt=review.suggested_through_message_id).order_by("id"))
    if not messages:
        return 0
    identifiers = selectors.patient_identifiers(conversation.patient)
    existing: dict[int, list[tuple[int, int]]] = {}
    for mid, s, e in Redaction.objects.filter(message__in=messages).exclude(
            state=Redaction.State.DISMISSED).values_list("message_id", "start", "end"):
        existing.setdefault(mid, []).append((s, e))
    new = []
    for m in messages:
        if m.role not in selectors.CHAT_ROLES:
            continue
        taken = existing.get(m.pk, [])
        for s in redaction.suggest(m.content, identifiers):
            if any(s.start < e and s.end > b for b, e in taken):
                continue
            new.append(Redaction(message=m, conversation=conversation, start=s.start, end=s.end,
                                 label=s.label, replacement=s.replacement, detector=s.detector,
                                 source=Redaction.Source.SUGGESTED, state=Redaction.State.SUGGESTED))
    Redaction.objects.bulk_create(new)
    review.suggested_through_message_id = messages[-1].pk
    review.save(update_fields=["suggested_through_message_id", "updated_at"])
    if new:
        audit_record(actor=actor, action="redaction.suggest", target_type="conversation",
                     target_id=conversation.pk,
                     detail={"suggestions": len(new), "labels": sorted({r.label for r in new})})
    return len(new)


def redactions_suggest_pending(*, limit: int = 200) -> int:
    """Background: suggestions for conversations with messages not scanned yet (so that opening a
    transcript reads only: suggestions are ready, or asked for with the explicit action)."""
    from django.db.models import F, Max, Value
    from django.db.models.functions import Coalesce

    pending = (Conversation.objects.annotate(last=Max("messages__id"),
                                             scanned=Coalesce(F("review__suggested_through_message_id"), Value(0)))
               .filter(last__gt=F("scanned")).order_by("last").values_list("pk", flat=True)[:limit])
    added = 0
    for pk in list(pending):
        try:
            added += redactions_suggest(conversation=Conversation(pk=pk))
        except ConversationGone:
            continue
    return added


# --- deny list ------------------------------------------------------------------------


@transaction.atomic
def deny_list_entry_save(*, entry: DenyListEntry, actor, changed: list[str]) -> DenyListEntry:
    """Add (an entry without an id) or change a deny-list term; audited, without the term."""
    adding = entry.pk is None
    if adding:
        entry.created_by = actor
    entry.save()
    audit_record(actor=actor, action="denylist.add" if adding else "denylist.change",
                 target_type="deny_list_entry", target_id=entry.pk,
                 detail={"label": entry.label, "fields": sorted(changed)})
    return entry


@transaction.atomic
def deny_list_entry_delete(*, entry: DenyListEntry, actor) -> None:
    entry_id = entry.pk
    entry.delete()
    audit_record(actor=actor, action="denylist.delete", target_type="deny_list_entry", target_id=entry_id)


# --- dataset export --------------------------------------------------------------------


def dataset_export_record(*, actor, examples: int, messages: int, written_to: str = "", stats_only: bool):
    return audit_record(actor=actor, action="dataset.export", target_type="dataset", target_id="",
                        after="stats" if stats_only else "written",
                        detail={"examples": examples, "messages": messages,
                                "file_name": written_to.rsplit("/", 1)[-1] if written_to else ""})
