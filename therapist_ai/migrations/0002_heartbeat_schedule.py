"""Schedule the worker heartbeat: the cluster runs it every minute (ORM and Redis brokers)."""

from django.db import migrations

NAME = "Worker heartbeat"
FUNC = "therapist_ai.health.heartbeat_task"


def schedule_create(apps, schema_editor):
    from django.utils import timezone

    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": FUNC,
            "schedule_type": "I",  # MINUTES
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("therapist_ai", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]
