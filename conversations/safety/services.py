"""Safety services: the texts the chat flow sends, flags, notifications, versioned edits."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.safety import defaults
from conversations.safety.verdicts import NONE, InputScreen, OutputScreen
from therapist_ai.audit import audit_record

logger = logging.getLogger(__name__)

CONTENT_CHECK_SECONDS = 2.0
_lock = threading.Lock()
_content: dict[str, tuple[float, dict]] = {}  # locale -> (loaded at, {"templates", "resources"})


def _locale(locale: str | None = None) -> str:
    return locale or getattr(settings, "CRISIS_LOCALE", "en-US") or "en-US"


def content_invalidate() -> None:
    """Forget cached templates and resources (a clinician changed one in this process)."""
    with _lock:
        _content.clear()


def _default_content(locale: str) -> dict:
    resources = [r for r in defaults.RESOURCES if r[0] == locale] or [r for r in defaults.RESOURCES if r[0] == "en-US"]
    return {
        "templates": dict(defaults.TEMPLATES),
        "resources": [{"name": n, "contact": c, "url": u} for _loc, n, c, u in resources],
    }


def _load_content(locale: str) -> dict:
    from conversations.safety.models import CrisisResource, SafetyTemplate

    content = _default_content(locale)
    # The deployment's locale first; a kind missing there falls back to en-US, then the defaults.
    for loc in ("en-US", locale):
        for kind, body in SafetyTemplate.objects.filter(locale=loc).values_list("kind", "body"):
            content["templates"][kind] = body
    rows = list(CrisisResource.objects.filter(locale=locale, active=True).values("name", "contact", "url"))
    if rows:
        content["resources"] = rows
    return content


def _current_content(locale: str | None = None) -> dict:
    locale = _locale(locale)
    now = time.monotonic()
    cached = _content.get(locale)
    if cached and now - cached[0] < CONTENT_CHECK_SECONDS:
        return cached[1]
    try:
        content = _load_content(locale)
    except Exception as exc:  # async context, database down: the shipped wording, never nothing
        logger.warning("Safety templates not loaded from the database (%s); using the shipped ones", exc)
        return cached[1] if cached else _default_content(locale)
    with _lock:
        _content[locale] = (now, content)
    return content


def resources_for_display(locale: str | None = None) -> list[dict]:
    """Crisis resources for the help page and the API's ``safety.resources``."""
    return [dict(r) for r in _current_content(locale)["resources"]]


def resources_text(locale: str | None = None) -> str:
    lines = []
    for r in resources_for_display(locale):
        url = f" ({r['url']})" if r.get("url") and r["url"].split("//")[-1].rstrip("/") not in r["contact"] else ""
        lines.append(f"- {r['name']}: {r['contact']}{url}")
    return "\n".join(lines)


def _render(kind: str, screen: InputScreen | None = None) -> str:
    body = _current_content()["templates"].get(kind) or defaults.TEMPLATES[kind]
    categories = ", ".join(c.replace("_", " ") for c in (screen.categories if screen else ())) or "unspecified"
    return body.replace("{resources}", resources_text()).replace("{categories}", categories)


def crisis_reply_text(*, screen: InputScreen) -> str:
    """The fixed, clinician-approved reply for a crisis-level message."""
    return _render("crisis_reply", screen)


def concern_system_addendum(*, screen: InputScreen) -> str:
    """Added to the system prompt when the input screen says ``concern``."""
    return _render("concern_addendum", screen)


def concern_resources_text(*, screen: InputScreen) -> str:
    """Appended to the model's reply when the input screen says ``concern``."""
    return _render("concern_resources", screen)


def output_replacement_text() -> str:
    """What the patient gets instead of a reply the output screen stopped."""
    return _render("output_replacement")


def safety_summary(screen: InputScreen | None = None, *, level: str | None = None, categories=None) -> dict:
    """The ``safety`` object of every message response: level, categories, resources shown."""
    level = level if level is not None else (screen.level if screen else NONE)
    categories = list(categories if categories is not None else (screen.categories if screen else ()))
    return {
        "level": level,
        "categories": categories,
        "resources": resources_for_display() if level != NONE else [],
    }


# --- flags -----------------------------------------------------------------------------


@transaction.atomic
def conversation_flag(*, conversation, message, screen: InputScreen):
    """Flag the conversation for clinician review; crisis flags e-mail clinicians after commit."""
    from conversations.safety.models import SafetyFlag

    if screen.level == NONE:
        return None
    flag = SafetyFlag.objects.create(
        conversation=conversation, message=message, level=screen.level,
        categories=list(screen.categories), reason="\n".join(screen.reasons)[:2000],
    )
    if screen.is_crisis:
        transaction.on_commit(lambda: flag_notification_enqueue(flag_id=flag.pk))
    return flag


def flag_notification_enqueue(*, flag_id: int) -> None:
    """Queue the e-mail on the worker so the patient's reply never waits on SMTP."""
    from therapist_ai.queueing import task_enqueue

    try:  # the broker down keeps the task in the outbox; it is sent when the broker is back
        task_enqueue("conversations.safety.tasks.flag_notify", flag_id, task_name=f"safety-flag-{flag_id}")
    except Exception:
        logger.exception("Could not queue the notification for safety flag %s", flag_id)


def clinician_alert_recipients() -> list[str]:
    from django.contrib.auth import get_user_model

    from therapist_ai.roles import CLINICIANS

    emails = (
        get_user_model().objects.filter(groups__name=CLINICIANS, is_active=True)
        .exclude(email="").values_list("email", flat=True)
    )
    return sorted({*emails, *getattr(settings, "CLINICIAN_ALERT_EMAILS", [])})


def flag_notification_send(*, flag_id: int) -> int:
    """E-mail clinicians about a flag (ids, level and categories only: no patient text)."""
    from django.core.mail import send_mail
    from django.urls import reverse

    from conversations.safety.models import SafetyFlag

    flag = SafetyFlag.objects.filter(pk=flag_id).first()
    recipients = clinician_alert_recipients()
    if flag is None or not recipients:
        return 0
    path = reverse("admin:safety_safetyflag_change", args=[flag.pk])
    categories = ", ".join(c.replace("_", " ") for c in flag.categories) or "unspecified"
    body = (
        f"A patient message was screened at {flag.level} level ({categories}) in conversation "
        f"{flag.conversation_id} at {flag.created_at:%Y-%m-%d %H:%M} UTC.\n"
        f"The patient received the crisis reply with resources. Please review the conversation "
        f"and mark the flag handled with a note:\n{getattr(settings, 'SITE_URL', '')}{path}\n"
    )
    return send_mail(
        subject=f"[Therapist AI] {flag.level.upper()} flag: conversation {flag.conversation_id}",
        message=body, from_email=None, recipient_list=recipients, fail_silently=False,
    )


@transaction.atomic
def flag_handle(*, flag, actor, note: str):
    """Close a flag with what the clinician did (a note is required); audited. The flag's
    message becomes a labelled example for the screen's next training (``feedback``)."""
    from django.core.exceptions import ValidationError

    from conversations.safety.models import SafetyFlag

    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": ["Say what was done (a note is required)."]})
    flag = SafetyFlag.objects.select_for_update().get(pk=flag.pk)
    if flag.handled_at is not None:
        return flag
    flag.handled_at, flag.handled_by, flag.handled_note = timezone.now(), actor, note
    flag.save(update_fields=["handled_at", "handled_by", "handled_note"])
    audit_record(actor=actor, action="safety.flag_handled", target_type="safety_flag", target_id=flag.pk,
           before="open", after="handled", detail={"conversation_id": flag.conversation_id, "level": flag.level})
    # A handled flag is a confirmed verdict: a training example for the next screening model
    # (a clinician's explicit "false alarm" or "missed risk" mark on the message wins).
    from conversations.safety.feedback import screening_example_from_flag

    screening_example_from_flag(flag=flag, actor=actor)
    return flag


def output_replacement_record(*, message, screen: OutputScreen, original_text: str = ""):
    """Record that a model reply was replaced by the safe template (per provider and model)."""
    from conversations.safety.models import OutputReplacement

    return OutputReplacement.objects.create(
        conversation_id=getattr(message, "conversation_id", None), message=message,
        provider=getattr(message, "provider", "") or "", model_name=getattr(message, "model_name", "") or "",
        categories=list(screen.categories), original_text=original_text,
    )


# --- clinician-edited content ----------------------------------------------------------


def _content_changed() -> None:
    from conversations.safety.rules import invalidate_rules

    invalidate_rules()
    content_invalidate()


@transaction.atomic
def safety_content_save(*, instance, actor):
    """Save a rule, template or resource as a new version (previous versions kept), audited."""
    from conversations.safety.models import ContentVersion

    model = type(instance)
    created = instance.pk is None
    if not created:
        current = model.objects.select_for_update().get(pk=instance.pk)
        before = f"v{current.version}"
        instance.version = current.version + 1
    else:
        before, instance.version = "", 1
    instance.updated_by = actor if getattr(actor, "is_authenticated", False) else None
    instance.full_clean()
    instance.save()
    name = model._meta.model_name
    ContentVersion.objects.create(
        content_type=name, object_id=instance.pk, version=instance.version,
        action="created" if created else "changed", snapshot=instance.snapshot(), changed_by=instance.updated_by,
    )
    audit_record(actor=actor, action=f"safety.{name}_{'created' if created else 'changed'}", target_type=name,
           target_id=instance.pk, before=before, after=f"v{instance.version}")
    transaction.on_commit(_content_changed)
    return instance


@transaction.atomic
def safety_content_delete(*, instance, actor) -> None:
    """Delete a rule, template or resource; its last state is kept as a ``deleted`` version."""
    from conversations.safety.models import ContentVersion

    name, pk = type(instance)._meta.model_name, instance.pk
    ContentVersion.objects.create(
        content_type=name, object_id=pk, version=instance.version + 1, action="deleted",
        snapshot=instance.snapshot(), changed_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    instance.delete()
    audit_record(actor=actor, action=f"safety.{name}_deleted", target_type=name, target_id=pk,
           before=f"v{instance.version}", after="deleted")
    transaction.on_commit(_content_changed)
