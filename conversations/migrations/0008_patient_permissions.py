"""Patients' permissions (granted to the Patients group after migrate, ``therapist_ai.roles``)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0007_erasure_record_key_id'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='conversation',
            options={'ordering': ['-updated_at', '-id'], 'permissions': [('chat_as_patient', 'Can chat with the AI as a patient (their own conversations)')]},
        ),
        migrations.AlterModelOptions(
            name='patientprofile',
            options={'permissions': [('manage_own_data', 'Can see, export and erase their own data and set their consent')]},
        ),
    ]
