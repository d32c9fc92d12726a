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
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from conversations.models import Message
from conversations.safety.models import SafetyFlag

CRISIS = Message.SafetyLevel.CRISIS
CONCERN = Message.SafetyLevel.CONCERN


def _flagged(level: str, conversation_ref: str) -> ExpressionWrapper:
    by_message = Exists(Message.objects.filter(conversation_id=OuterRef(conversation_ref), safety_level=level))
    by_flag = Exists(SafetyFlag.objects.filter(conversation_id=OuterRef(conversation_ref), level=level))
    return ExpressionWrapper(Q(by_message) | Q(by_flag), output_field=BooleanField())


def crisis_exists(conversation_ref: str = "pk"):
    """Boolean expression: the conversation at ``OuterRef(conversation_ref)`` is crisis-flagged."""
    return _flagged(CRISIS, conversation_ref)


_RANK = {CRISIS: 2, CONCERN: 1}


def _rank_of(field: str) -> Case:
    return Case(*(When(**{field: level}, then=Value(rank)) for level, rank in _RANK.items()),
                default=Value(0), output_field=IntegerField())


def with_flag_rank(qs: QuerySet) -> QuerySet:
    """Annotate ``flag_open`` (an unhandled safety flag) and ``flag_rank`` (2 crisis,
    1 concern, 0 none; from safety flags and message screens), for ordering and filtering
    the review queue. The queue sorts every conversation by these, so each is a single
    correlated subquery (the safety app's ``with_flag_state`` adds the display fields
    for the rows of one page)."""
    by_message = Subquery(
        Message.objects.filter(conversation_id=OuterRef("pk"))
        .exclude(safety_level=Message.SafetyLevel.NONE)
        .annotate(rank=_rank_of("safety_level"))
        .order_by("-rank")
        .values("rank")[:1],
        output_field=IntegerField(),
    )
    by_flag = Subquery(
        SafetyFlag.objects.filter(conversation_id=OuterRef("pk"))
        .annotate(rank=_rank_of("level"))
        .order_by("-rank")
        .values("rank")[:1],
        output_field=IntegerField(),
    )
    return qs.annotate(
        flag_open=Exists(SafetyFlag.objects.filter(conversation_id=OuterRef("pk"), handled_at__isnull=True)),
        flag_rank=Greatest(Coalesce(by_message, 0), Coalesce(by_flag, 0)),
    )
