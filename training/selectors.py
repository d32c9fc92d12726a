"""Reads about training that other code shares (admin index, API, serving)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from training.models import ModelVersion, TrainingRun


class ModelVersionRefused(Exception):
    """A version's files do not match its manifest (or are missing): it must not be loaded."""


def training_progress() -> dict:
    """Approved training messages since the last run vs the threshold (admin index bar)."""
    from clinicians.selectors import training_message_count
    from training.services import last_run_cutoff

    pending = training_message_count(approved_after=last_run_cutoff())
    active = TrainingRun.objects.active().first()
    return {
        "pending": pending,
        "threshold": settings.AUTO_TRAIN_THRESHOLD,
        "auto_training": settings.ENABLE_AUTO_TRAINING,
        "active_run_id": active.pk if active else None,
    }


def training_run_active() -> TrainingRun | None:
    return TrainingRun.objects.active().first()


def model_versions_ready() -> list[ModelVersion]:
    """Versions that are ready AND whose files still verify against their manifest."""
    from training.services import model_version_verify

    ready = []
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.READY).select_related("run"):
        if model_version_verify(version=version)[0]:
            ready.append(version)
    return ready


def model_version_path_verified(version: ModelVersion) -> Path:
    """The directory to load a version from, after checking every file; refuses otherwise."""
    from training.services import model_version_verify

    if version.status != ModelVersion.Status.READY:
        raise ModelVersionRefused(f"model version {version.name} is {version.status}, not ready")
    ok, reason = model_version_verify(version=version)
    if not ok:
        raise ModelVersionRefused(f"model version {version.name} refused: {reason}")
    return Path(version.path)


def model_version_lineage(version: ModelVersion) -> list[dict]:
    """Exactly which conversations (and messages, with their redaction hash) a version learned from."""
    return list(version.snapshot.examples)
