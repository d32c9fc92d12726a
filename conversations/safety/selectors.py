"""Reads other areas share: flag state for the clinicians' review queue, open-flag counts."""

from __future__ import annotations

from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value, When

from conversations.safety.models import SafetyFlag

LEVEL_RANK = {"crisis": 2, "concern": 1}


def with_flag_state(qs: QuerySet, conversation_ref: str = "pk") -> QuerySet:
    """Annotate conversations with ``flag_open`` (an unhandled flag exists) and ``flag_level``
    (the most severe flag level, open ones first; "" when never flagged).

    Order a review queue with ``.order_by("-flag_open", "-flag_rank", ...)``-style keys.
    """
    flags = SafetyFlag.objects.filter(conversation_id=OuterRef(conversation_ref))
    severity = Case(
        *(When(level=level, then=Value(rank)) for level, rank in LEVEL_RANK.items()),
        default=Value(0), output_field=IntegerField(),
    )
    open_first = flags.filter(handled_at__isnull=True).annotate(severity=severity).order_by("-severity").values("level")[:1]
    any_flag = flags.annotate(severity=severity).order_by("-severity").values("level")[:1]
    return qs.annotate(
        flag_open=Exists(flags.filter(handled_at__isnull=True)),
        flag_open_level=Subquery(open_first),
        flag_any_level=Subquery(any_flag),
    ).annotate(
        flag_level=Case(
            When(flag_open=True, then="flag_open_level"),
            When(flag_any_level__isnull=False, then="flag_any_level"),
            default=Value(""),
        )
    )


def flagged_conversation_ids(*, open_only: bool = True) -> list[int]:
    """Conversations with flags (open ones only by default), most severe and newest first."""
    qs = SafetyFlag.objects.open() if open_only else SafetyFlag.objects.all()
    seen: dict[int, int] = {}
    for conversation_id, level in qs.order_by("-created_at", "-id").values_list("conversation_id", "level"):
        seen[conversation_id] = max(seen.get(conversation_id, 0), LEVEL_RANK.get(level, 0))
    return sorted(seen, key=lambda cid: -seen[cid])


def flags_for_conversation(conversation_id: int) -> list[SafetyFlag]:
    """A conversation's flags (open first, newest first) with level, categories and reason,
    for showing beside a transcript."""
    from django.db.models import F

    return list(
        SafetyFlag.objects.filter(conversation_id=conversation_id).select_related("handled_by")
        .order_by(F("handled_at").asc(nulls_first=True), "-created_at", "-id")
    )


def open_flag_count() -> int:
    return SafetyFlag.objects.open().count()


def replacements_by_model() -> list[dict]:
    """How often the output screen replaced each provider/model's replies."""
    from django.db.models import Count

    from conversations.safety.models import OutputReplacement

    return list(
        OutputReplacement.objects.values("provider", "model_name").annotate(count=Count("id")).order_by("-count")
    )


def replacement_count(*, provider: str = "", model_name: str = "", since=None) -> int:
    """Replies the output screen replaced, for one provider and/or model (e.g. a promoted
    local version, to decide an automatic revert), optionally only after ``since``."""
    from conversations.safety.models import OutputReplacement

    qs = OutputReplacement.objects.all()
    if provider:
        qs = qs.filter(provider=provider)
    if model_name:
        qs = qs.filter(model_name=model_name)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs.count()


def screening_feedback_counts(status: dict) -> tuple[int, int]:
    """(messages clinicians labelled for the screen now, how many of them the screening model
    ``status`` was trained on)."""
    from conversations.safety.models import ScreeningExample
    from conversations.safety.screen_data import FEEDBACK

    used_ids = set()
    for source in (status.get("data") or {}).get("sources", []):
        if source.get("name") == FEEDBACK:
            used_ids.update(source.get("example_ids", []))
    ids = set(ScreeningExample.objects.values_list("id", flat=True))
    return len(ids), len(ids & used_ids)


def screening_model_panel(user) -> dict | None:
    """The admin index panel: which screening model version screens (clinicians and staff)."""
    from django.urls import reverse

    from conversations.safety.screen_model import screen_model_status

    if not getattr(user, "is_staff", False) or not user.has_perm("safety.view_safetyflag"):
        return None
    status = screen_model_status()
    labelled, _used = screening_feedback_counts(status)
    return {**status, "labelled": labelled, "url": reverse("admin:safety_screening_model")}
