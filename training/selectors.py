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
    if not (user.has_perm("training.view_trainingrun") or user.has_perm("clinicians.view_transcript")):
        return None
    progress = training_progress()
    pending, threshold = int(progress["pending"]), max(int(progress["threshold"]), 1)
    return {"pending": pending, "threshold": threshold, "percent": min(100, round(100 * pending / threshold))}


def evidence_context(version: ModelVersion) -> dict:
    """Everything staff and clinicians compare before a promotion, for one page: held-out loss
    and perplexity (candidate, active version, base model), the evaluation prompts answered
    side by side, sign-offs and blind shadow ratings."""
    from training.evaluation import shadow_ratings_summary
    from training.models import VersionEvaluation

    metrics = version.metrics or {}
    rows = [("candidate " + version.name, metrics.get("eval_loss"), metrics.get("eval_perplexity"))]
    if metrics.get("active_eval_loss") is not None:
        rows.append((f"active {metrics.get('active_version', '')}", metrics["active_eval_loss"],
                     metrics.get("active_eval_perplexity")))
    rows.append(("base model", metrics.get("base_eval_loss"), metrics.get("base_eval_perplexity")))
    evaluation = VersionEvaluation.objects.filter(version=version).first()
    prompts: dict[str, dict] = {}
    if evaluation is not None:
        for reply in evaluation.replies.all():
            prompts.setdefault(reply.prompt_text, {})[reply.responder] = reply
    return {"version": version, "loss_rows": rows, "eval_examples": metrics.get("eval_examples"),
            "evaluation": evaluation, "prompts": prompts, "sign_offs": list(version.sign_offs.all()),
            "shadow": shadow_ratings_summary(version)}
