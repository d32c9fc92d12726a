"""Writes for patients' accounts and data rights: sign-up, consent, roles, demo accounts, erasure.

Every change to what a patient agreed to is timestamped and audit-logged (without content).
Erasure deletes the account and everything about it, keeps a content-free record, and tells
the apps that hold derived data (``patient_erased``: the training app marks versions).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.accounts import erasure_queue
from conversations.accounts.erasure_keys import subject_hash_new
from conversations.accounts.signals import patient_erased
from conversations.models import Conversation, ErasureRecord, Message, PatientProfile
from therapist_ai.audit import audit_record
from therapist_ai.models import AuditEvent
from therapist_ai.roles import CLINICIANS, PATIENTS, STAFF

logger = logging.getLogger(__name__)
User = get_user_model()


@transaction.atomic
def patient_register(
    *, username: str, password: str, email: str, accept_terms: bool, training_consent: bool, phone: str = ""
) -> User:
    """Create a patient account. Terms are required; training consent is a separate choice."""
    username = username.strip()
    errors: dict[str, list[str]] = {}
    if not accept_terms:
        errors["accept_terms"] = ["You need to agree to the terms to use the service."]
    if not username:
        errors["username"] = ["Choose a username."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    user = User.objects.create_user(username=username, email=email.strip(), password=password)
    now = timezone.now()
    PatientProfile.objects.create(
        user=user, phone=phone.strip(), terms_accepted_at=now,
        training_consent=bool(training_consent), training_consent_changed_at=now,
    )
    user.groups.add(Group.objects.get_or_create(name=PATIENTS)[0])
    audit_record(actor=user, action="patient.training_consent", target_type="user", target_id=user.pk,
           before="", after="granted" if training_consent else "declined", detail={"at": "sign-up"})
    return user


def patient_profile_ensure(*, user) -> PatientProfile:
    """The patient's profile; made (no training consent) for a patient who was put in the
    Patients group outside the sign-up page, so every patient is a working patient."""
    profile = PatientProfile.objects.filter(user=user).first()
    if profile is not None:
        return profile
    try:
        with transaction.atomic():
            return PatientProfile.objects.create(user=user, training_consent=False,
                                                 training_consent_changed_at=timezone.now())
    except IntegrityError:  # made concurrently
        return PatientProfile.objects.get(user=user)


@transaction.atomic
def patient_consent_set(*, user, training_consent: bool, actor=None) -> PatientProfile:
    """Change whether the patient's conversations may train the model (timestamped, audited)."""
    patient_profile_ensure(user=user)
    profile = PatientProfile.objects.select_for_update().get(user=user)
    if profile.training_consent == bool(training_consent):
        return profile
    before = "granted" if profile.training_consent else "declined"
    profile.training_consent = bool(training_consent)
    profile.training_consent_changed_at = timezone.now()
    profile.save(update_fields=["training_consent", "training_consent_changed_at"])
    audit_record(actor=actor or user, action="patient.training_consent", target_type="user", target_id=user.pk,
           before=before, after="granted" if training_consent else "declined")
    return profile


def roles_ensure() -> list[str]:
    """Create the role groups and attach ``ROLE_PERMISSIONS`` (idempotent).

    Returns the configured permissions that do not exist, so the caller can report them.
    """
    from django.contrib.auth.models import Permission

    from therapist_ai.roles import ROLE_GROUPS, ROLE_PERMISSIONS, sync_role_permissions

    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)
    sync_role_permissions()
    missing = []
    for dotted in sorted({p for perms in ROLE_PERMISSIONS.values() for p in perms}):
        app_label, codename = dotted.split(".", 1)
        if not Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists():
            missing.append(dotted)
    return missing


@dataclass(frozen=True)
class DemoAccount:
    role: str
    username: str
    password: str | None  # None: it already existed (its password is not known)


DEMO_ACCOUNTS = (("patient", "demo_patient", PATIENTS), ("clinician", "demo_clinician", CLINICIANS),
                 ("staff", "demo_staff", STAFF))


@transaction.atomic
def demo_accounts_ensure() -> list[DemoAccount]:
    """Demo patient, clinician and staff accounts with random passwords. Never when DEBUG=0."""
    if not settings.DEBUG:
        raise PermissionDenied("Demo accounts are only created when DEBUG=1.")
    accounts = []
    for role, username, group_name in DEMO_ACCOUNTS:
        if User.objects.filter(username=username).exists():
            accounts.append(DemoAccount(role, username, None))
            continue
        password = secrets.token_urlsafe(12)
        if group_name == PATIENTS:
            patient_register(username=username, password=password, email=f"{username}@example.com",
                             accept_terms=True, training_consent=False)
        else:
            user = User.objects.create_user(username=username, email=f"{username}@example.com",
                                            password=password, is_staff=True)
            user.groups.add(Group.objects.get_or_create(name=group_name)[0])
        accounts.append(DemoAccount(role, username, password))
    return accounts


# --- data rights ----------------------------------------------------------------------


@transaction.atomic
def patient_erase(*, user, actor) -> ErasureRecord:
    """Delete a patient's account and everything about them; keep a content-free record."""
    user = User.objects.select_for_update().get(pk=user.pk)
    conversation_ids = list(Conversation.objects.filter(patient=user).values_list("id", flat=True))
    message_ids = list(Message.objects.filter(conversation__patient=user).values_list("id", flat=True))
    removed = erasure_queue.remove_tasks_about(erasure_queue.Subject(
        user_id=user.pk, conversation_ids=set(conversation_ids), message_ids=set(message_ids)))
    by_self = actor is None or actor.pk == user.pk
    hashed, key_id = subject_hash_new(user.pk)  # pseudonymous; not reversible without the key
    record = ErasureRecord.objects.create(
        subject_hash=hashed, key_id=key_id, conversation_count=len(conversation_ids),
        message_count=len(message_ids), conversation_ids=conversation_ids, message_ids=message_ids,
        queued_tasks_removed=removed, requested_by_self=by_self,
    )
    # Earlier audit rows keep what happened, but no longer who the patient was.
    AuditEvent.objects.filter(actor=user).update(actor=None, actor_label="erased patient")
    AuditEvent.objects.filter(target_type="user", target_id=str(user.pk)).update(
        target_type="erased user", target_id=f"erasure:{record.pk}")
    audit_record(actor=None if by_self else actor, action="patient.erase", target_type="erasure_record",
                 target_id=record.pk,
                 detail={"conversations": len(conversation_ids), "messages": len(message_ids),
                         "queued_tasks_removed": removed, "requested_by_self": by_self})
    user.delete()
    record_id = record.pk
    transaction.on_commit(lambda: patient_erased.send(
        sender=ErasureRecord, erasure_record_id=record_id, conversation_ids=conversation_ids,
        message_ids=message_ids))
    logger.info("Erased patient data: %s conversations, %s messages (erasure %s)",
                len(conversation_ids), len(message_ids), record_id)
    return record
