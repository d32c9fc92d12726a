"""Add the shipped screening rules written after 0002 (methods, preparation, concealment, more
idioms and negations) to databases that were already seeded; existing rows are left alone."""

from django.db import migrations

from conversations.safety.seed import add_missing_default_rules


class Migration(migrations.Migration):
    dependencies = [("safety", "0002_seed_rules_templates_resources")]
    operations = [migrations.RunPython(add_missing_default_rules, migrations.RunPython.noop)]
