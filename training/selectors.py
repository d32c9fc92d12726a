"""Reads about training that other code shares (admin index, API, serving)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from training.models import ModelVersion, TrainingRun


def base_model_path() -> str:
    return settings.BASE_MODEL or str(Path(settings.DATA_DIR) / "base_model")


def last_run_cutoff():
    """Approvals after this time count toward the next run (failed runs consume nothing)."""
    last = (
        TrainingRun.objects.exclude(status=TrainingRun.Status.FAILED)
        .order_by("-created_at").values_list("created_at", flat=True).first()
    )
    return last


def training_progress() -> dict:
    """Approved training messages since the last run vs the threshold (admin index bar)."""
    from clinicians.training_set import training_message_count

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


def model_version_lineage(version: ModelVersion) -> list[dict]:
    """Exactly which conversations (and messages, with their redaction hash) a version learned from."""
    return list(version.snapshot.examples)


def training_progress_panel(user) -> dict | None:
    """The admin index panel: approved messages waiting vs the threshold (clinicians, staff)."""
    from therapist_ai.roles import is_clinician, is_staff_member

    if not (is_clinician(user) or is_staff_member(user)):
        return None
    progress = training_progress()
    pending, threshold = int(progress["pending"]), max(int(progress["threshold"]), 1)
    return {"pending": pending, "threshold": threshold, "percent": min(100, round(100 * pending / threshold))}
