"""Permission matrix: anonymous / patient / clinician / staff against every curation page and endpoint."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clinicians import services
from clinicians.models import DenyListEntry, Redaction
from conversations.models import ErasureRecord
from devtools.factories import make_patient, make_transcript
from therapist_ai.audit import audit_record
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db
ROLES = ["anonymous", "patient", "clinician", "staff"]


@pytest.fixture
def world(clinician, staff_user):
    owner = make_patient("perm_owner")
    conv = make_transcript(owner, [("write to perm@home.example.com", "ok")])
    services.redactions_suggest(conversation=conv, actor=clinician)
    event = audit_record(actor=clinician, action="x", target_type="y", target_id=1)
    entry = DenyListEntry.objects.create(term="Hilltop")
    record = ErasureRecord.objects.create(subject_hash="h", conversation_count=0, message_count=0)
    users = {"anonymous": None, "patient": make_patient("perm_pat"), "clinician": clinician, "staff": staff_user}
    return {"conv": conv, "message": conv.messages.first(), "redaction": Redaction.objects.first(),
            "event": event, "entry": entry, "record": record, "users": users}


ADMIN_PAGES = {
    # name: (method, url builder, allowed roles)
    "admin index": ("get", lambda w: reverse("admin:index"), {"clinician", "staff"}),
    "review queue": ("get", lambda w: reverse("admin:clinicians_transcript_changelist"), {"clinician", "staff"}),
    "transcript review": ("get", lambda w: reverse("admin:clinicians_transcript_change", args=[w["conv"].pk]),
                          {"clinician", "staff"}),
    "transcript review post": ("post", lambda w: reverse("admin:clinicians_transcript_change", args=[w["conv"].pk]),
                               {"clinician"}),
    "bulk reject page": ("post", lambda w: reverse("admin:clinicians_transcript_changelist"), {"clinician"}),
    "deny list": ("get", lambda w: reverse("admin:clinicians_denylistentry_changelist"), {"clinician", "staff"}),
    "deny list add": ("get", lambda w: reverse("admin:clinicians_denylistentry_add"), {"clinician"}),
    "audit log": ("get", lambda w: reverse("admin:therapist_ai_auditevent_changelist"), {"staff"}),
    "audit event": ("get", lambda w: reverse("admin:therapist_ai_auditevent_change", args=[w["event"].pk]), {"staff"}),
    "erasure records": ("get", lambda w: reverse("admin:conversations_erasurerecord_changelist"), {"staff"}),
}


def _post_data(name, w):
    if name == "transcript review post":
        return {"op": "exclude", "message": w["message"].pk}
    if name == "bulk reject page":
        return {"action": "reject_selected", "_selected_action": [w["conv"].pk]}
    return {}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(ADMIN_PAGES))
def test_admin_pages(client, world, role, page):
    method, url, allowed = ADMIN_PAGES[page]
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    response = getattr(client, method)(url(world), _post_data(page, world))

    if page == "bulk reject page" and role == "staff":  # the action is not offered to read-only staff
        assert response.status_code == 200 and b"reject-selected-form" not in response.content
        return
    if role in allowed:
        assert response.status_code in (200, 302)
        if response.status_code == 302:
            assert "/admin/login/" not in response["Location"]
    elif role in {"anonymous", "patient"}:
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    else:
        assert response.status_code == 403


API = {
    "queue": ("get", lambda w: "/api/v1/transcripts/", None, {"clinician", "staff"}),
    "detail": ("get", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/", None, {"clinician", "staff"}),
    "approve": ("post", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/approve/", {}, {"clinician"}),
    "reject": ("post", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/reject/", {"reason": "r"}, {"clinician"}),
    "exclude": ("post", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/exclude/",
                lambda w: {"message_id": w["message"].pk}, {"clinician"}),
    "include": ("post", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/include/",
                lambda w: {"message_id": w["message"].pk}, {"clinician"}),
    "crisis inclusion": ("post", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/crisis-inclusion/",
                         {"include": False}, {"clinician"}),
    "redact": ("post", lambda w: f"/api/v1/transcripts/{w['conv'].pk}/redactions/",
               lambda w: {"message_id": w["message"].pk, "start": 0, "end": 5, "label": "OTHER"}, {"clinician"}),
    "accept": ("post", lambda w: f"/api/v1/redactions/{w['redaction'].pk}/accept/", None, {"clinician"}),
    "dismiss": ("post", lambda w: f"/api/v1/redactions/{w['redaction'].pk}/dismiss/", None, {"clinician"}),
    "my consent": ("get", lambda w: "/api/v1/me/consent/", None, {"patient"}),
    "set my consent": ("put", lambda w: "/api/v1/me/consent/", {"training_consent": False}, {"patient"}),
    "my export": ("get", lambda w: "/api/v1/me/export/", None, {"patient"}),
    "delete me": ("delete", lambda w: "/api/v1/me/", {}, {"patient"}),  # 400 (no password) for patients
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(API))
def test_api_endpoints(world, role, endpoint):
    method, url, body, allowed = API[endpoint]
    client = APIClient()
    if world["users"][role] is not None:
        client.force_authenticate(world["users"][role])
    data = body(world) if callable(body) else body
    response = getattr(client, method)(url(world), data, format="json")

    if role in allowed:
        assert response.status_code not in (401, 403), response.content
    elif role == "anonymous":
        assert response.status_code == 401
    else:
        assert response.status_code == 403


PATIENT_PAGES = ["patient_data", "patient_delete"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", PATIENT_PAGES)
def test_patient_pages(client, world, role, name):
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    response = client.get(reverse(name))
    expected = {"anonymous": 302, "patient": 200, "clinician": 403, "staff": 403}[role]
    assert response.status_code == expected


def test_patient_cannot_see_other_patients_data_through_export(world):
    client = APIClient()
    client.force_authenticate(world["users"]["patient"])
    data = client.get("/api/v1/me/export/").json()
    assert data["conversations"] == []
    assert AuditEvent.objects.filter(action="patient.data_export").count() == 1
