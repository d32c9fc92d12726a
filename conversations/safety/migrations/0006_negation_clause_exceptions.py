"""Add the shipped exceptions for a negation followed by what the person does want ("I don't want
to die, I just want to sleep", "sad, but not suicidal") to databases already seeded."""

from django.db import migrations

from conversations.safety.seed import add_missing_default_rules


class Migration(migrations.Migration):
    dependencies = [("safety", "0005_screening_rule_overrulable")]
    operations = [migrations.RunPython(add_missing_default_rules, migrations.RunPython.noop)]
