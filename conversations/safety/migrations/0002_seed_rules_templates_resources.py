"""Seed the shipped screening rules, templates and resources (version 1 of each)."""

from django.db import migrations

from conversations.safety.seed import defaults_seed


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]
    operations = [migrations.RunPython(defaults_seed, migrations.RunPython.noop)]
