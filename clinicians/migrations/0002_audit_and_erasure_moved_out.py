"""The audit log (now ``therapist_ai``) and erasure records (now ``conversations``) leave
curation. State only: their tables stay, owned by the models that moved."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("clinicians", "0001_initial"),
        ("therapist_ai", "0003_auditevent_moved_from_clinicians"),
        ("conversations", "0003_erasurerecord_moved_from_clinicians"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent"), migrations.DeleteModel(name="ErasureRecord")],
            database_operations=[],
        ),
    ]
