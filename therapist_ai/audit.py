"""The audit log's one write: who did what to which object, when. Every app records here.

``detail`` holds ids, counts and labels, never message text (a test scans every row).
"""

from __future__ import annotations

from therapist_ai.models import AuditEvent


def audit_record(*, actor, action: str, target_type: str, target_id, before: str = "", after: str = "",
                 detail: dict | None = None) -> AuditEvent:
    """Record an action. ``actor`` None (or anonymous) is the system itself."""
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "system",
        action=action,
        target_type=target_type,
        target_id="" if target_id is None else str(target_id),
        before=str(before or ""),
        after=str(after or ""),
        detail=detail or {},
    )
