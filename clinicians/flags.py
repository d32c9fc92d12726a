"""The one place curation decides what "crisis-flagged" means.

A conversation is crisis-flagged when the safety app raised a crisis flag on it (open or
handled: handling a flag is about care, not about training), or when any of its
messages was screened at crisis level (the verdict stored on each message). The review
queue also uses the safety app's ``with_flag_state`` (open flags first).
"""

from __future__ import annotations

from django.db.models import (
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)

from conversations.models import Message
from conversations.safety.models import SafetyFlag
from conversations.safety.selectors import with_flag_state

CRISIS = Message.SafetyLevel.CRISIS
CONCERN = Message.SafetyLevel.CONCERN


def _flagged(level: str, conversation_ref: str) -> ExpressionWrapper:
    by_message = Exists(Message.objects.filter(conversation_id=OuterRef(conversation_ref), safety_level=level))
    by_flag = Exists(SafetyFlag.objects.filter(conversation_id=OuterRef(conversation_ref), level=level))
    return ExpressionWrapper(Q(by_message) | Q(by_flag), output_field=BooleanField())


def crisis_exists(conversation_ref: str = "pk"):
    """Boolean expression: the conversation at ``OuterRef(conversation_ref)`` is crisis-flagged."""
    return _flagged(CRISIS, conversation_ref)


def with_flag_rank(qs: QuerySet) -> QuerySet:
    """Annotate ``flag_rank`` (2 crisis, 1 concern, 0 none) and the safety app's
    ``flag_open`` / ``flag_level``, for ordering and filtering the review queue."""
    qs = with_flag_state(qs).annotate(is_crisis=crisis_exists(), is_concern=_flagged(CONCERN, "pk"))
    return qs.annotate(
        flag_rank=Case(
            When(Q(is_crisis=True), then=Value(2)),
            When(Q(is_concern=True), then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
    )
