"""Listeners for curation's signals (connected in ``TrainingConfig.ready``)."""

import logging

from django.dispatch import receiver

from clinicians.signals import patient_erased, transcript_approved

logger = logging.getLogger("training")


@receiver(transcript_approved, dispatch_uid="training.threshold_on_approval")
def on_transcript_approved(sender, **kwargs):
    from training.services import training_threshold_check

    training_threshold_check(source="approval")


@receiver(patient_erased, dispatch_uid="training.mark_versions_on_erasure")
def on_patient_erased(sender, *, erasure_record_id=None, conversation_ids=(), message_ids=(), **kwargs):
    from training.services import model_versions_mark_erased

    marked = model_versions_mark_erased(
        erasure_record_id=erasure_record_id, conversation_ids=conversation_ids, message_ids=message_ids
    )
    if marked:
        logger.warning("Erasure %s: marked model versions %s as trained on erased data", erasure_record_id, marked)


def schedules_ensure(**kwargs) -> None:
    """The periodic safety net (threshold check) and the reaper, on the default cluster."""
    from django_q.models import Schedule

    for name, func, minutes in (
        ("training: reap stale runs", "training.tasks.training_runs_reap", 1),
        ("training: threshold check", "training.tasks.training_threshold_check", 5),
    ):
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
