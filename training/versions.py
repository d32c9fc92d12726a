"""Writes about model versions once they exist: file checks, erasure marks and reconciliation.

A version trained on data a patient has since erased is marked (at erasure time, again when a
run publishes, and by a periodic reconcile), and stops serving (``training.serving``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from training import storage
from training.models import ModelVersion

logger = logging.getLogger("training")


def version_files_check(version: ModelVersion) -> str:
    """"" when the files match the manifest recorded at publication; else why not. Reads every
    file: for explicit actions (promotion, the verify action, a background check), never a page."""
    ok, reason = storage.manifest_verify(Path(version.path))
    if ok and version.manifest_sha256 and storage.manifest_sha256(Path(version.path)) != version.manifest_sha256:
        ok, reason = False, "manifest.json was changed after the version was recorded"
    return "" if ok else reason


def model_version_verify(*, version: ModelVersion) -> tuple[bool, str]:
    """Check the files against the manifest and record it; a ready version that fails becomes
    ``failed`` (it can never serve)."""
    reason = version_files_check(version)
    now = timezone.now()
    if reason and version.status == ModelVersion.Status.READY:
        ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.READY).update(
            status=ModelVersion.Status.FAILED, metrics={**version.metrics, "invalid_reason": reason},
            verification_error=reason[:500], verified_at=now)
        version.status = ModelVersion.Status.FAILED
        logger.error("Model version %s refused: %s", version.name, reason)
    else:
        ModelVersion.objects.filter(pk=version.pk).update(verification_error=reason[:500], verified_at=now)
    version.verification_error, version.verified_at = reason[:500], now
    return not reason, reason


@transaction.atomic
def model_versions_mark_erased(*, erasure_record_id, conversation_ids, message_ids) -> list[int]:
    """Mark every version whose snapshot holds any of the erased conversations or messages."""
    conversation_ids, message_ids = set(conversation_ids or []), set(message_ids or [])
    marked = []
    for version in ModelVersion.objects.select_related("snapshot").select_for_update():
        snap = version.snapshot
        if conversation_ids & set(snap.conversation_ids) or message_ids & snap.message_ids:
            version.trained_on_erased_data = True
            if erasure_record_id not in version.erasure_record_ids:
                version.erasure_record_ids = [*version.erasure_record_ids, erasure_record_id]
            version.save(update_fields=["trained_on_erased_data", "erasure_record_ids"])
            marked.append(version.pk)
    return marked


def version_erasures_apply(version: ModelVersion) -> bool:
    """Mark ``version`` with every erasure that removed data it was trained on (any time)."""
    from conversations.models import ErasureRecord

    snap = version.snapshot
    conversations, messages = set(snap.conversation_ids), snap.message_ids
    found = [record.pk for record in ErasureRecord.objects.only("pk", "conversation_ids", "message_ids")
             if conversations & set(record.conversation_ids) or messages & set(record.message_ids)]
    new = [pk for pk in found if pk not in version.erasure_record_ids]
    if not new:
        return False
    version.trained_on_erased_data = True
    version.erasure_record_ids = [*version.erasure_record_ids, *new]
    version.save(update_fields=["trained_on_erased_data", "erasure_record_ids"])
    logger.warning("Model version %s was trained on erased data (erasures %s)", version.name, new)
    return True


def model_versions_erasure_reconcile() -> list[int]:
    """The periodic safety net: every version checked against every erasure record; returns the
    versions newly marked (``training.serving.services.serving_erasure_reconcile`` stops them serving)."""
    marked = []
    for version in ModelVersion.objects.select_related("snapshot"):
        with transaction.atomic():
            if version_erasures_apply(version):
                marked.append(version.pk)
    return marked


class ModelVersionRefused(Exception):
    """A version's files do not match its manifest (or are missing): it must not be loaded."""


def model_versions_ready() -> list[ModelVersion]:
    """Versions that are ready AND whose files still verify against their manifest."""
    ready = []
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.READY).select_related("run"):
        if model_version_verify(version=version)[0]:
            ready.append(version)
    return ready


def model_version_path_verified(version: ModelVersion) -> Path:
    """The directory to load a version from, after checking every file; refuses otherwise."""
    if version.status != ModelVersion.Status.READY:
        raise ModelVersionRefused(f"model version {version.name} is {version.status}, not ready")
    ok, reason = model_version_verify(version=version)
    if not ok:
        raise ModelVersionRefused(f"model version {version.name} refused: {reason}")
    return Path(version.path)
