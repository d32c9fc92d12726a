"""Schedule the outbox flush: tasks the broker refused are queued every minute once it is back."""

from django.db import migrations

NAME = "Task outbox flush"
FUNC = "therapist_ai.tasks.outbox_flush"


def schedule_create(apps, schema_editor):
    from django.utils import timezone

    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": FUNC, "schedule_type": "I", "minutes": 1, "repeats": -1,
                             "next_run": timezone.now()})


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("therapist_ai", "0004_task_outbox")]
    operations = [migrations.RunPython(schedule_create, schedule_delete)]
