"""Every curation action leaves an audit row: who, what, when, before/after, never message text."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from clinicians import services
from clinicians.models import Redaction
from conversations.accounts.services import patient_consent_set, patient_erase
from conversations.models import Message
from devtools.factories import make_patient, make_transcript
from therapist_ai.audit import audit_record
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db


def run_every_action(clinician, tmp_path):
    patient = make_patient("au_pat", first_name="Octavia")
    conv = make_transcript(patient, [("Octavia here, mail oct@home.example.com", "hello Octavia"),
                                     ("I want to end my life", "crisis reply"), ("my secret story", "ok")],
                           crisis_at=1)
    services.redactions_suggest(conversation=conv, actor=clinician)
    suggestions = list(Redaction.objects.filter(conversation=conv))
    services.redaction_accept(redaction=suggestions[0], clinician=clinician)
    for r in suggestions[1:]:
        services.redaction_dismiss(redaction=r, clinician=clinician)
    story = conv.messages.get(content="my secret story")
    services.redaction_add(message=story, start=3, end=9, label="OTHER", clinician=clinician)
    services.message_exclude(message=story, clinician=clinician, reason="private")
    services.message_include(message=story, clinician=clinician)
    services.transcript_crisis_include(conversation=conv, clinician=clinician, include=True, reason="ok")
    services.transcript_approve(conversation=conv, clinician=clinician, override_reason="names are fictional")
    services.transcript_reject(conversation=conv, clinician=clinician, reason="changed my mind")
    patient_consent_set(user=patient, training_consent=False)
    call_command("export_dataset", "--out", str(tmp_path / "x.jsonl"))
    other = make_patient("au_other")
    make_transcript(other, [("bye for now", "bye")])
    patient_erase(user=other, actor=other)
    return conv


def test_each_action_is_audited_with_actor_object_and_time(clinician, tmp_path):
    conv = run_every_action(clinician, tmp_path)

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert actions >= {"redaction.suggest", "redaction.accept", "redaction.dismiss", "redaction.add",
                       "message.exclude", "message.include", "review.crisis_inclusion", "review.approve",
                       "review.reject", "patient.training_consent", "dataset.export", "patient.erase"}
    approve = AuditEvent.objects.get(action="review.approve")
    assert (approve.actor, approve.target_type, approve.target_id) == (clinician, "conversation", str(conv.pk))
    assert (approve.before, approve.after) == ("pending", "approved") and approve.created_at is not None
    reject = AuditEvent.objects.get(action="review.reject")
    assert (reject.before, reject.after) == ("approved", "rejected")


def test_no_audit_row_contains_message_text(clinician, tmp_path):
    run_every_action(clinician, tmp_path)
    texts = [t for t in Message.objects.values_list("content", flat=True)] + [
        "bye for now", "Octavia", "oct@home.example.com", "changed my mind", "names are fictional"]

    for event in AuditEvent.objects.all():
        blob = json.dumps([event.before, event.after, event.detail, event.target_id, event.target_type],
                          ensure_ascii=False)
        for text in texts:
            assert text not in blob, f"{event.action} leaks {text!r}"


def test_erasure_anonymises_the_patients_own_audit_rows(clinician):
    patient = make_patient("au_self")
    patient_consent_set(user=patient, training_consent=False)
    patient_erase(user=patient, actor=patient)

    assert not AuditEvent.objects.filter(actor_label="au_self").exists()
    assert not AuditEvent.objects.filter(target_type="user", target_id=str(patient.pk)).exists()
    assert AuditEvent.objects.filter(actor_label="erased patient", action="patient.training_consent").exists()


def test_audit_log_is_read_only_and_for_staff_only(client, clinician, staff_user):
    audit_record(actor=clinician, action="test.event", target_type="x", target_id=1)
    event = AuditEvent.objects.get()
    changelist = reverse("admin:therapist_ai_auditevent_changelist")
    change = reverse("admin:therapist_ai_auditevent_change", args=[event.pk])

    client.force_login(staff_user)
    assert client.get(changelist).status_code == 200
    page = client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(change, {"action": "hacked"}).status_code == 403
    assert client.get(reverse("admin:therapist_ai_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:therapist_ai_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get().action == "test.event"

    client.force_login(clinician)
    assert client.get(changelist).status_code == 403
