"""Listeners for curation's signals (connected in ``TrainingConfig.ready``)."""

import logging

from django.dispatch import receiver

from clinicians.signals import transcript_approved
from conversations.accounts.signals import patient_erased
from conversations.signals import reply_stored

logger = logging.getLogger("training")


@receiver(transcript_approved, dispatch_uid="training.threshold_on_approval")
def on_transcript_approved(sender, **kwargs):
    from training.services import training_threshold_check

    training_threshold_check(source="approval")


@receiver(patient_erased, dispatch_uid="training.mark_versions_on_erasure")
def on_patient_erased(sender, *, erasure_record_id=None, conversation_ids=(), message_ids=(), **kwargs):
    from training.versions import model_versions_mark_erased

    marked = model_versions_mark_erased(
        erasure_record_id=erasure_record_id, conversation_ids=conversation_ids, message_ids=message_ids
    )
    if marked:
        logger.warning("Erasure %s: marked model versions %s as trained on erased data", erasure_record_id, marked)
        from training.serving.services import serving_on_erasure

        serving_on_erasure(version_ids=marked)


@receiver(reply_stored, dispatch_uid="training.serving_on_reply")
def on_reply_stored(sender, *, patient_message_id, reply_id, provider, fallback_reason="", replaced=False, **kwargs):
    """Shadow mode: queue the candidate's reply. Local serving: a fallback or a replaced local
    reply counts toward the automatic revert, checked now (and every minute by the schedule)."""
    from training.evaluation import shadow_reply_request

    if fallback_reason or (replaced and provider == "local"):
        from training.serving.services import serving_failure_check

        try:
            serving_failure_check()
        except Exception:
            logger.exception("Serving failure check failed")
    shadow_reply_request(patient_message_id=patient_message_id, reply_id=reply_id, provider=provider)


def schedules_ensure(**kwargs) -> None:
    """The periodic safety net (threshold check) and the reaper, on the default cluster."""
    from django_q.models import Schedule

    for name, func, minutes in (
        ("training: reap stale runs", "training.tasks.training_runs_reap", 1),
        ("training: threshold check", "training.tasks.training_threshold_check", 5),
        ("serving: failure check", "training.tasks.serving_failure_check", 1),
        ("serving: erasure reconcile", "training.tasks.serving_erasure_reconcile", 10),
    ):
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
