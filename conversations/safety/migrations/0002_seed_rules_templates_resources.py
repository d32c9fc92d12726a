"""Seed the shipped screening rules, templates and resources (version 1 of each)."""

from django.db import migrations


def seed(apps, schema_editor):
    from conversations.safety import defaults

    ScreeningRule = apps.get_model("safety", "ScreeningRule")
    SafetyTemplate = apps.get_model("safety", "SafetyTemplate")
    CrisisResource = apps.get_model("safety", "CrisisResource")
    ContentVersion = apps.get_model("safety", "ContentVersion")

    def keep(obj, name, fields):
        ContentVersion.objects.create(content_type=name, object_id=obj.pk, version=1, action="created",
                                      snapshot={f: getattr(obj, f) for f in fields})

    if not ScreeningRule.objects.exists():
        for category, level, kind, text, note in defaults.RULES:
            rule = ScreeningRule.objects.create(category=category, level=level, kind=kind, text=text, note=note)
            keep(rule, "screeningrule", ["category", "level", "kind", "text", "note", "active", "version"])
    if not SafetyTemplate.objects.exists():
        for kind, body in defaults.TEMPLATES.items():
            template = SafetyTemplate.objects.create(kind=kind, locale="en-US", body=body)
            keep(template, "safetytemplate", ["kind", "locale", "body", "version"])
    if not CrisisResource.objects.exists():
        for position, (locale, name, contact, url) in enumerate(defaults.RESOURCES):
            resource = CrisisResource.objects.create(locale=locale, name=name, contact=contact, url=url,
                                                     position=position)
            keep(resource, "crisisresource", ["locale", "name", "contact", "url", "position", "active", "version"])


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
