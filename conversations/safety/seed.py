"""Seed the shipped screening rules, templates and resources (version 1 of each) into empty tables.

Runs from migration 0002 and after every ``migrate``/``flush`` (``post_migrate``), so a
database never screens with an empty rule table. Tables a clinician has filled are left alone.
"""

from django.db.models import Max

from conversations.safety import defaults

FIELDS = {
    "screeningrule": ["category", "level", "kind", "text", "note", "active", "version"],
    "safetytemplate": ["kind", "locale", "body", "version"],
    "crisisresource": ["locale", "name", "contact", "url", "position", "active", "version"],
}


def defaults_seed(apps, schema_editor=None, **kwargs) -> None:
    ContentVersion = apps.get_model("safety", "ContentVersion")
    wanted = {
        "screeningrule": [
            {"category": c, "level": lvl, "kind": k, "text": t, "note": n} for c, lvl, k, t, n in defaults.RULES
        ],
        "safetytemplate": [{"kind": k, "locale": "en-US", "body": b} for k, b in defaults.TEMPLATES.items()],
        "crisisresource": [
            {"locale": loc, "name": n, "contact": c, "url": u, "position": i}
            for i, (loc, n, c, u) in enumerate(defaults.RESOURCES)
        ],
    }
    for name, rows in wanted.items():
        model = apps.get_model("safety", name)
        if model.objects.exists():
            continue
        model.objects.bulk_create([model(**row) for row in rows])
        # History is never deleted: an id reused after a clinician emptied the table continues
        # its numbering.
        last = dict(
            ContentVersion.objects.filter(content_type=name).values("object_id")
            .annotate(last=Max("version")).values_list("object_id", "last")
        )
        ContentVersion.objects.bulk_create([
            ContentVersion(content_type=name, object_id=obj.pk, version=last.get(obj.pk, 0) + 1, action="created",
                           snapshot={f: getattr(obj, f) for f in FIELDS[name]})
            for obj in model.objects.all()
        ])
