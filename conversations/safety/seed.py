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


def add_missing_default_rules(apps, schema_editor=None) -> None:
    """Shipped rules added after a database was seeded (migration 0003 onwards): inserted as new
    rows, version 1, when no rule (active or not) has the same kind and text. Clinicians' rows are
    never changed; a shipped rule a clinician switched off or deleted stays so."""
    ScreeningRule = apps.get_model("safety", "ScreeningRule")
    ContentVersion = apps.get_model("safety", "ContentVersion")
    if not ScreeningRule.objects.exists():
        return  # an empty table is seeded whole by defaults_seed
    present = set(ScreeningRule.objects.values_list("kind", "text"))
    # ... nor one that ever existed here (a clinician deleted it: it stays deleted).
    present |= {(v.get("kind"), v.get("text"))
                for v in ContentVersion.objects.filter(content_type="screeningrule").values_list("snapshot", flat=True)}
    added = [
        ScreeningRule.objects.create(category=c, level=lvl, kind=k, text=t, note=n)
        for c, lvl, k, t, n in defaults.RULES if (k, t) not in present
    ]
    last = dict(
        ContentVersion.objects.filter(content_type="screeningrule", object_id__in=[r.pk for r in added])
        .values("object_id").annotate(last=Max("version")).values_list("object_id", "last")
    )
    ContentVersion.objects.bulk_create([
        ContentVersion(content_type="screeningrule", object_id=r.pk, version=last.get(r.pk, 0) + 1, action="created",
                       snapshot={f: getattr(r, f) for f in FIELDS["screeningrule"]})
        for r in added
    ])
