from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CliniciansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "clinicians"

    def ready(self):
        post_migrate.connect(schedules_ensure, sender=self, dispatch_uid="clinicians.schedules")


def schedules_ensure(**kwargs) -> None:
    """Redaction suggestions for new messages, in the background (a transcript read writes nothing)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="curation: redaction suggestions",
        defaults={"func": "clinicians.tasks.redactions_suggest_pending", "schedule_type": Schedule.MINUTES,
                  "minutes": 1, "repeats": -1},
    )
