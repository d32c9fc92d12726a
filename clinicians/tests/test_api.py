"""Curation API for clinicians and the patient data-rights API."""

import pytest
from rest_framework.test import APIClient

from clinicians import services
from clinicians.models import Redaction, Review
from conversations.accounts.services import patient_erase
from conversations.models import Conversation, ErasureRecord
from devtools.factories import TEST_PASSWORD, make_patient, make_transcript
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_queue_lists_and_filters_transcripts(clinician):
    patient = make_patient("api_q")
    approved = make_transcript(patient, [("a", "b")])
    pending = make_transcript(patient, [("c", "d")])
    services.transcript_approve(conversation=approved, clinician=clinician)

    everything = api(clinician).get("/api/v1/transcripts/").json()["results"]
    only_pending = api(clinician).get("/api/v1/transcripts/", {"status": "pending"}).json()["results"]

    assert {row["id"] for row in everything} == {approved.pk, pending.pk}
    assert [row["id"] for row in only_pending] == [pending.pk]
    assert only_pending[0]["training_consent"] is True and only_pending[0]["flag"] == "none"
    assert api(clinician).get("/api/v1/transcripts/", {"since": "not a date"}).status_code == 400


def test_detail_accept_redact_approve_through_api(clinician):
    patient = make_patient("api_flow", first_name="Perpetua")
    conv = make_transcript(patient, [("Perpetua here, born 14 March 1985", "Hi")])
    client = api(clinician)
    assert client.get(f"/api/v1/transcripts/{conv.pk}/").json()["messages"][0]["redactions"] == []  # reads only
    assert client.post(f"/api/v1/transcripts/{conv.pk}/suggest/").json() == {"added": 2}

    detail = client.get(f"/api/v1/transcripts/{conv.pk}/").json()
    suggestions = detail["messages"][0]["redactions"]
    assert {s["label"] for s in suggestions} == {"NAME", "DATE"}
    for s in suggestions:
        assert client.post(f"/api/v1/redactions/{s['id']}/accept/").json()["state"] == "accepted"
    message_id = detail["messages"][1]["id"]
    created = client.post(f"/api/v1/transcripts/{conv.pk}/redactions/",
                          {"message_id": message_id, "start": 0, "end": 2, "label": "OTHER"}, format="json")
    assert created.status_code == 201
    approved = client.post(f"/api/v1/transcripts/{conv.pk}/approve/", {}, format="json")

    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = client.get(f"/api/v1/transcripts/{conv.pk}/").json()
    assert again["messages"][0]["redacted"] == "[NAME] here, born [DATE]"
    assert again["messages"][1]["redacted"] == "[OTHER]"


def test_api_errors_are_clear(clinician):
    conv = make_transcript(make_patient("api_err"), [("mail me: a.b@host.example.com", "ok")])
    client = api(clinician)
    message_id = conv.messages.first().pk

    scan = client.post(f"/api/v1/transcripts/{conv.pk}/approve/", {}, format="json")
    assert scan.status_code == 422 and scan.json()["findings"][0]["label"] == "EMAIL"
    out_of_range = client.post(f"/api/v1/transcripts/{conv.pk}/redactions/",
                               {"message_id": message_id, "start": 5, "end": 500, "label": "NAME"}, format="json")
    # A well-formed span that does not fit this message: refused by the message's state (409).
    assert out_of_range.status_code == 409 and "outside message" in out_of_range.json()["detail"]
    bad_label = client.post(f"/api/v1/transcripts/{conv.pk}/redactions/",
                            {"message_id": message_id, "start": 0, "end": 2, "label": "PET"}, format="json")
    assert bad_label.status_code == 400
    assert client.post(f"/api/v1/transcripts/{conv.pk}/reject/", {}, format="json").status_code == 400
    ok = client.post(f"/api/v1/transcripts/{conv.pk}/approve/", {"override_reason": "fake"}, format="json")
    assert ok.status_code == 200
    twice = client.post(f"/api/v1/transcripts/{conv.pk}/approve/", {"override_reason": "fake"}, format="json")
    assert twice.status_code == 409 and "already approved" in twice.json()["detail"]


def test_exclude_include_and_crisis_inclusion_endpoints(clinician):
    conv = make_transcript(make_patient("api_ex"), [("I want to end my life", "t"), ("ok now", "good")],
                           crisis_at=0)
    client = api(clinician)
    mid = conv.messages.get(content="ok now").pk

    assert client.post(f"/api/v1/transcripts/{conv.pk}/exclude/", {"message_id": mid}, format="json").status_code == 204
    assert client.post(f"/api/v1/transcripts/{conv.pk}/exclude/", {"message_id": mid}, format="json").status_code == 409
    assert client.post(f"/api/v1/transcripts/{conv.pk}/include/", {"message_id": mid}, format="json").status_code == 204
    no_reason = client.post(f"/api/v1/transcripts/{conv.pk}/crisis-inclusion/", {"include": True}, format="json")
    assert no_reason.status_code == 409
    included = client.post(f"/api/v1/transcripts/{conv.pk}/crisis-inclusion/",
                           {"include": True, "reason": "reviewed"}, format="json")
    assert included.json()["include_despite_crisis"] is True


def test_patient_reads_and_changes_consent(patient):
    client = api(patient)
    assert client.get("/api/v1/me/consent/").json()["training_consent"] is True

    changed = client.put("/api/v1/me/consent/", {"training_consent": False}, format="json")

    assert changed.status_code == 200 and changed.json()["training_consent"] is False
    assert AuditEvent.objects.filter(action="patient.training_consent", after="declined",
                                     target_id=str(patient.pk)).exists()
    assert client.put("/api/v1/me/consent/", {}, format="json").status_code == 400


def test_patient_exports_own_data(patient):
    make_transcript(patient, [("my words", "reply words")])

    data = api(patient).get("/api/v1/me/export/").json()

    assert data["account"]["username"] == patient.username
    assert data["profile"]["training_consent"] is True
    assert [m["content"] for m in data["conversations"][0]["messages"]] == ["my words", "reply words"]
    assert data["consent_history"][0]["to"] == "granted"


def test_patient_deletes_account_with_password(patient):
    conv = make_transcript(patient, [("bye", "take care")])
    client = api(patient)

    wrong = client.delete("/api/v1/me/", {"password": "wrong"}, format="json")
    assert wrong.status_code == 403 and wrong.json() == {"detail": "That password is not correct."}
    assert client.delete("/api/v1/me/", {}, format="json").status_code == 400
    assert client.delete("/api/v1/me/", {"password": TEST_PASSWORD}, format="json").status_code == 204

    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert ErasureRecord.objects.get().conversation_ids == [conv.pk]


def test_approving_an_erased_conversation_is_a_clear_error(clinician):
    patient = make_patient("api_gone")
    conv = make_transcript(patient, [("hello", "hi")])
    patient_erase(user=patient, actor=patient)

    assert api(clinician).post(f"/api/v1/transcripts/{conv.pk}/approve/", {}, format="json").status_code == 404
    with pytest.raises(services.ConversationGone, match="no longer exists"):
        services.transcript_approve(conversation=conv, clinician=clinician)
    assert not Review.objects.exists() and not Redaction.objects.exists()
