"""The one place curation decides what "crisis-flagged" means.

A conversation is crisis-flagged when any of its messages was screened at crisis level
(the chat flow stores the screen's verdict on each message). The safety app's
``with_flag_state`` annotation (flag level, open/handled) is used for ordering and
showing the review queue when it is installed; the training-set rule stays this one.
"""

from __future__ import annotations

from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Value, When

from conversations.models import Message

CRISIS = Message.SafetyLevel.CRISIS
CONCERN = Message.SafetyLevel.CONCERN


def crisis_exists(conversation_ref: str = "pk") -> Exists:
    """``Exists`` expression: the conversation at ``OuterRef(conversation_ref)`` is crisis-flagged."""
    return Exists(
        Message.objects.filter(conversation_id=OuterRef(conversation_ref), safety_level=CRISIS)
    )


def concern_exists(conversation_ref: str = "pk") -> Exists:
    return Exists(
        Message.objects.filter(conversation_id=OuterRef(conversation_ref), safety_level=CONCERN)
    )


def with_flag_rank(qs: QuerySet) -> QuerySet:
    """Annotate ``flag_rank`` (2 crisis, 1 concern, 0 none) for ordering the review queue."""
    qs = qs.annotate(
        is_crisis=crisis_exists(),
        is_concern=concern_exists(),
    ).annotate(
        flag_rank=Case(
            When(is_crisis=True, then=Value(2)),
            When(is_concern=True, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
    )
    try:  # the safety app's richer flag state (open/handled), once it exists
        from conversations.safety.selectors import with_flag_state
    except ImportError:
        return qs
    return with_flag_state(qs)
