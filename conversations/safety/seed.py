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


def _rule_rows() -> list[dict]:
    return [{"category": c, "level": lvl, "kind": k, "text": t, "note": n} for c, lvl, k, t, n in defaults.RULES]


def _created_versions_record(ContentVersion, name: str, objects) -> None:
    """A "created" version of each of ``objects``. History is never deleted: an id reused after
    a clinician deleted its row continues that id's numbering."""
    objects = list(objects)
    last = dict(
        ContentVersion.objects.filter(content_type=name, object_id__in=[obj.pk for obj in objects])
        .values("object_id").annotate(last=Max("version")).values_list("object_id", "last")
    )
    ContentVersion.objects.bulk_create([
        ContentVersion(content_type=name, object_id=obj.pk, version=last.get(obj.pk, 0) + 1, action="created",
                       snapshot={f: getattr(obj, f) for f in FIELDS[name]})
        for obj in objects
    ])


def defaults_seed(apps, schema_editor=None, **kwargs) -> None:
    ContentVersion = apps.get_model("safety", "ContentVersion")
    wanted = {
        "screeningrule": _rule_rows(),
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
        _created_versions_record(ContentVersion, name, model.objects.all())
        if name == "screeningrule":
            shipped_rules_overrulable(model, model.objects.all())


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
    added = [ScreeningRule.objects.create(**row) for row in _rule_rows() if (row["kind"], row["text"]) not in present]
    _created_versions_record(ContentVersion, "screeningrule", added)
    shipped_rules_overrulable(ScreeningRule, ScreeningRule.objects.filter(pk__in=[r.pk for r in added]))


def shipped_rules_overrulable(ScreeningRule, rules) -> None:
    """Shipped risk rules may be overruled by the screening model's near-certainty (migration
    0005 onwards; earlier migrations' models have no such field)."""
    if any(f.name == "overrulable" for f in ScreeningRule._meta.get_fields()):
        shipped = {(row["kind"], row["text"]) for row in _rule_rows()}
        ids = [r.pk for r in rules if r.kind != "exception" and (r.kind, r.text) in shipped]
        ScreeningRule.objects.filter(pk__in=ids).update(overrulable=True)


def mark_shipped_rules_overrulable(apps, schema_editor=None) -> None:
    ScreeningRule = apps.get_model("safety", "ScreeningRule")
    shipped_rules_overrulable(ScreeningRule, ScreeningRule.objects.all())
