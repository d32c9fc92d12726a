"""Reads of the serving state. Every process keeps its view of the state and checks the row's
revision on each chat turn (one primary-key lookup; ``SERVING_STATE_TTL`` > 0 checks less often),
so a change made anywhere reaches the next reply of every web and worker process, without a
restart."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from training.models import ServingState

logger = logging.getLogger("training.serving")


@dataclass(frozen=True)
class ServingView:
    mode: str
    active_version: str | None  # version names: what the inference server calls them
    shadow_version: str | None
    shadow_version_id: int | None
    revision: int


HOSTED_VIEW = ServingView(ServingState.Mode.HOSTED, None, None, None, -1)

_lock = threading.Lock()
_cached: tuple[ServingView, float] | None = None


def serving_state_get() -> ServingState:
    """The one row (made on first use: mode ``local`` when ``USE_LOCAL_AI=1``, else ``hosted``)."""
    initial = ServingState.Mode.LOCAL if settings.USE_LOCAL_AI else ServingState.Mode.HOSTED
    state, _ = ServingState.objects.select_related("active_version", "shadow_version").get_or_create(
        id=1, defaults={"mode": initial})
    return state


def _view_read() -> ServingView:
    state = serving_state_get()
    return ServingView(
        mode=state.mode,
        active_version=state.active_version.name if state.active_version else None,
        shadow_version=state.shadow_version.name if state.shadow_version else None,
        shadow_version_id=state.shadow_version_id,
        revision=state.revision,
    )


def serving_view() -> ServingView:
    """The serving state as this process sees it.

    Every call reads the row's revision (one primary-key lookup); the whole state is read again
    only when the revision moved, so the very next reply after a promotion, in any process, comes
    from the new version. ``SERVING_STATE_TTL`` > 0 skips even that lookup for that many seconds.
    If the database cannot be read, the hosted model answers (the safe side: learning mode), and
    the error is logged.
    """
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and now - cached[1] < settings.SERVING_STATE_TTL:
        return cached[0]
    try:
        revision = ServingState.objects.filter(id=1).values_list("revision", flat=True).first()
        if cached is not None and revision is not None and revision == cached[0].revision:
            _cached = (cached[0], now)
            return cached[0]
        with _lock:
            view = _view_read()
    except Exception:
        logger.exception("Serving state unreadable; the hosted model answers")
        view = HOSTED_VIEW
    _cached = (view, now)
    return view


def serving_view_forget() -> None:
    """Drop this process's cached state (after a change made here; tests)."""
    global _cached
    _cached = None


def local_outcomes(*, since) -> dict:
    """Local attempts since ``since``: replies the local model gave, fallbacks to the hosted
    model, and local replies the output screen replaced."""
    from conversations.models import Message
    from conversations.safety.models import OutputReplacement

    replies = Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=since)
    local = replies.filter(provider="local").count()
    fallbacks = replies.filter(~Q(fallback_reason="")).count()
    replaced = OutputReplacement.objects.filter(provider="local", created_at__gte=since).count()
    return {"local_replies": local, "fallbacks": fallbacks, "replaced": replaced, "attempts": local + fallbacks}


def serving_summary() -> dict:
    """What staff see: the state, and how local serving went in the last hour and the window."""
    state = serving_state_get()
    now = timezone.now()
    return {
        "state": state,
        "last_hour": local_outcomes(since=now - timedelta(hours=1)),
        "window": local_outcomes(since=now - timedelta(seconds=settings.SERVING_REVERT_WINDOW)),
        "since_change": local_outcomes(since=state.changed_at) if state.changed_at else None,
    }


def serving_panel(user) -> dict | None:
    """The admin index panel: who answers patients, and any alert (staff and clinicians)."""
    if not (user.has_perm("training.view_servingstate") or user.has_perm("training.view_modelversion")):
        return None
    from django.urls import reverse

    state = serving_state_get()
    return {"mode": state.mode, "active": state.active_version, "shadow": state.shadow_version,
            "alert": state.alert,
            "url": reverse("admin:training_servingstate_changelist") if user.has_perm(
                "training.view_servingstate") else ""}
