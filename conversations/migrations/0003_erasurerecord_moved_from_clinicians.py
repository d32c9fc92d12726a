"""Erasure records move from curation to patients' accounts and data rights.

State only: the table ``clinicians_erasurerecord`` stays as it is (the model names it). The
content type follows, so permissions already granted on erasure records keep working.
"""

from django.db import migrations, models


def content_type_move(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="conversations", model="erasurerecord").exists():
        ContentType.objects.filter(app_label="clinicians", model="erasurerecord").update(app_label="conversations")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0002_role_groups"),
        ("clinicians", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ErasureRecord",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("subject_hash", models.CharField(db_index=True, max_length=64)),
                        ("conversation_count", models.PositiveIntegerField()),
                        ("message_count", models.PositiveIntegerField()),
                        ("conversation_ids", models.JSONField(default=list)),
                        ("message_ids", models.JSONField(default=list)),
                        ("queued_tasks_removed", models.PositiveIntegerField(default=0)),
                        ("requested_by_self", models.BooleanField(default=True)),
                        ("erased_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "clinicians_erasurerecord"},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_move, migrations.RunPython.noop),
    ]
