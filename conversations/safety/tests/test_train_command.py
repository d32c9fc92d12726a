"""The training command end to end on a handful of examples (seconds): a verified version folder
whose manifest names the clinicians' feedback it read, loadable by a web process."""

import io
import json

import pytest
from django.core.management import call_command

from conversations.models import Message
from conversations.safety.feedback import missed_risk_mark
from conversations.safety.screen_model import ScreenModel, artefact_verify
from devtools.factories import make_transcript

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_a_tiny_training_run_writes_a_verified_version_with_the_feedback_it_read(tmp_path, patient, clinician):
    conversation = make_transcript(patient, [("I sorted the cat's new home", "ok"), ("tomorrow it ends", None)])
    message = conversation.messages.filter(role=Message.Role.PATIENT).order_by("-id").first()
    example = missed_risk_mark(message=message, level="crisis", category="suicide", actor=clinician)

    output = tmp_path / "version"
    call_command("safety_train_screen", output=str(output), limit=8, epochs=0.25, threads=1, stdout=io.StringIO())

    manifest = artefact_verify(output)
    feedback = next(s for s in manifest["data"]["sources"] if s["name"] == "clinician_feedback")
    assert feedback["example_ids"] == [example.pk] and feedback["levels"] == {"crisis": 1}
    assert manifest["data"]["total"] == 8 and manifest["training"]["steps"] >= 1
    assert message.content not in (output / "manifest.json").read_text()  # counts and hashes, no text
    report = json.loads((output / "report.json").read_text())
    assert set(report["sets"]) == {"eval", "probe", "probe_unseen"}
    assert ScreenModel(output).version == manifest["version"]
