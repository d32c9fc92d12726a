"""Seed the evaluation prompt set from training/data/eval_prompts.jsonl (clinicians edit it in
the admin from then on). Only into an empty table: edits are never overwritten."""

import json
from pathlib import Path

from django.db import migrations

PROMPTS = Path(__file__).resolve().parents[1] / "data" / "eval_prompts.jsonl"


def seed(apps, schema_editor):
    EvalPrompt = apps.get_model("training", "EvalPrompt")
    if EvalPrompt.objects.exists():
        return
    rows = [json.loads(line) for line in PROMPTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    EvalPrompt.objects.bulk_create(
        EvalPrompt(text=row["text"], note=row.get("note", ""), position=i) for i, row in enumerate(rows))


class Migration(migrations.Migration):
    dependencies = [("training", "0002_serving_and_evaluation")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
