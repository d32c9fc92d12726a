"""The audit log moves from curation to the project layer (every app records into it).

State only: the table ``clinicians_auditevent`` stays as it is (the model names it). The
content type follows, so permissions already granted on the audit log keep working.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_move(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="therapist_ai", model="auditevent").exists():
        ContentType.objects.filter(app_label="clinicians", model="auditevent").update(app_label="therapist_ai")


class Migration(migrations.Migration):
    dependencies = [
        ("therapist_ai", "0002_heartbeat_schedule"),
        ("clinicians", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("actor_label", models.CharField(blank=True, max_length=150)),
                        ("action", models.CharField(db_index=True, max_length=60)),
                        ("target_type", models.CharField(max_length=60)),
                        ("target_id", models.CharField(blank=True, max_length=60)),
                        ("before", models.CharField(blank=True, max_length=60)),
                        ("after", models.CharField(blank=True, max_length=60)),
                        ("detail", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                    related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"ordering": ["-created_at", "-id"], "db_table": "clinicians_auditevent"},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_move, migrations.RunPython.noop),
    ]
