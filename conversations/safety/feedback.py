"""Clinicians close the loop: their verdicts on patient messages become training examples
for the next screening model version (``ScreeningExample``), never evaluation data.

Sources, strongest last: a handled safety flag (its verdict, confirmed by handling it), then a
clinician's explicit mark, *missed risk* (with the level and category it should have had) or
*false alarm*. An explicit mark replaces a handled flag's example; a flag handled later does
not replace an explicit mark. Every change is audited (labels and ids only, never text).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from conversations.safety.defaults import CATEGORIES
from conversations.safety.models import Level, SafetyFlag, ScreeningExample
from conversations.safety.screen_inputs import CONTEXT_MESSAGES
from therapist_ai.audit import audit_record

LABEL_PERMISSION = "safety.add_screeningexample"
PATIENT = "patient"  # Message.Role.PATIENT (the chat models are a layer above: not imported here)
Source = ScreeningExample.Source


def _label_clean(level: str, category: str) -> tuple[str, str]:
    category = category or ""
    if level not in Level.values:
        raise ValidationError({"level": [f"Choose one of {', '.join(Level.values)}."]})
    if level == Level.NONE:
        return level, ""
    if category not in CATEGORIES:
        raise ValidationError({"category": ["A risk label needs its category."]})
    return level, category


@transaction.atomic
def screening_example_label(*, message, level: str, category: str = "", source: str, actor,
                            flag: SafetyFlag | None = None) -> ScreeningExample:
    """Label a patient message for the screen's training (one label per message: the latest
    clinician's). Clinicians need ``safety.add_screeningexample``; a handled flag's example is
    a consequence of handling it and needs only that."""
    if source != Source.FLAG_HANDLED and not (actor is not None and actor.has_perm(LABEL_PERMISSION)):
        raise PermissionDenied("Only clinicians may label messages for the safety screen.")
    if source not in Source.values:
        raise ValidationError({"source": [f"Unknown source {source!r}."]})
    if message.role != PATIENT:
        raise ValidationError("Only a patient's message can be labelled for the safety screen.")
    level, category = _label_clean(level, category)
    existing = ScreeningExample.objects.select_for_update().filter(message=message).first()
    if existing is not None and source == Source.FLAG_HANDLED and existing.source != Source.FLAG_HANDLED:
        return existing  # a clinician's explicit mark stands
    before = f"{existing.level}/{existing.category or '-'} ({existing.source})" if existing else ""
    user = actor if getattr(actor, "is_authenticated", False) else None
    example, _ = ScreeningExample.objects.update_or_create(
        message=message,
        defaults={"level": level, "category": category, "source": source, "flag": flag, "labelled_by": user},
    )
    audit_record(actor=actor, action="safety.screening_example_labelled", target_type="message", target_id=message.pk,
                 before=before, after=f"{level}/{category or '-'} ({source})",
                 detail={"conversation_id": message.conversation_id, "flag_id": flag.pk if flag else None})
    return example


def screening_example_from_flag(*, flag: SafetyFlag, actor) -> ScreeningExample | None:
    """The example a handled flag gives: its level and first category (none without a message
    or a category, e.g. a flag raised while the model was unavailable)."""
    if flag.message is None or not flag.categories or flag.level == Level.NONE:
        return None
    return screening_example_label(message=flag.message, level=flag.level, category=flag.categories[0],
                                   source=Source.FLAG_HANDLED, actor=actor, flag=flag)


def false_alarm_mark(*, message, actor, flag: SafetyFlag | None = None) -> ScreeningExample:
    """The screen flagged this message, and it was not risk."""
    return screening_example_label(message=message, level=Level.NONE, source=Source.FALSE_ALARM, actor=actor,
                                   flag=flag)


def missed_risk_mark(*, message, level: str, category: str, actor, flag: SafetyFlag | None = None) -> ScreeningExample:
    """The message was risk at ``level`` (``category``) and the screen said less."""
    if level == Level.NONE:
        raise ValidationError({"level": ["Missed risk is concern or crisis."]})
    return screening_example_label(message=message, level=level, category=category, source=Source.MISSED_RISK,
                                   actor=actor, flag=flag)


def screening_examples_for_training() -> list[dict]:
    """Every labelled message as a training record (``text``, ``context``, ``level``,
    ``category``, ``source``, ``id``), read now: the patient's messages before it in the
    conversation, up to ``CONTEXT_MESSAGES``, oldest first."""
    records = []
    for example in ScreeningExample.objects.select_related("message").order_by("id"):
        message = example.message
        earlier = (type(message).objects.filter(conversation_id=message.conversation_id, role=PATIENT, id__lt=message.id)
                   .order_by("-id").values_list("content", flat=True)[:CONTEXT_MESSAGES])
        records.append({"text": message.content, "context": list(reversed(earlier)), "level": example.level,
                        "category": example.category or "none", "source": "clinician_feedback",
                        "id": example.pk, "labelled": f"{example.source}:{example.updated_at.isoformat()}"})
    return records
