"""Clinicians see flagged conversations first, are notified, handle flags and edit the wording."""

import pytest
from django.core import mail
from django.urls import reverse

from conversations.safety.models import ContentVersion, SafetyFlag, SafetyTemplate, ScreeningRule
from conversations.safety.selectors import flagged_conversation_ids, with_flag_state
from conversations.safety.services import conversation_flag, crisis_reply_text, flag_handle
from conversations.safety.verdicts import InputScreen
from conversations.services.chat import conversation_create
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db

CRISIS = InputScreen("crisis", ("suicide",), ("rule 1: want to die",))


@pytest.fixture
def flagged(patient, other_patient):
    """Three conversations: an old crisis-flagged one, a newer unflagged one, a newer handled one."""
    from conversations.models import Conversation

    old = conversation_create(patient=patient, title="old but flagged")
    message = old.messages.create(role="patient", content="...", safety_level="crisis", safety_categories=["suicide"])
    newer = conversation_create(patient=other_patient, title="newer, unflagged")
    flag = conversation_flag(conversation=old, message=message, screen=CRISIS)
    Conversation.objects.filter(pk=newer.pk).update(updated_at=old.updated_at.replace(year=old.updated_at.year + 1))
    return old, newer, flag


def test_flagged_conversation_is_first_in_the_clinicians_review_queue(flagged, clinician, client):
    from clinicians.selectors import transcript_queue

    old, newer, _flag = flagged
    assert [c.pk for c in transcript_queue()][:2] == [old.pk, newer.pk]
    client.force_login(clinician)
    page = client.get(reverse("admin:clinicians_transcript_changelist")).content.decode()
    assert page.index(f"#{old.pk} old but flagged") < page.index(f"#{newer.pk} newer, unflagged")


def test_flag_state_annotation_and_flagged_ids(flagged, clinician):
    from conversations.models import Conversation

    old, newer, flag = flagged
    rows = {c.pk: (c.flag_open, c.flag_level) for c in with_flag_state(Conversation.objects.all())}
    assert rows[old.pk] == (True, "crisis") and rows[newer.pk] == (False, "")
    assert flagged_conversation_ids() == [old.pk]
    from conversations.safety.selectors import flags_for_conversation

    assert [(f.level, f.categories, f.reason) for f in flags_for_conversation(old.pk)] == [
        ("crisis", ["suicide"], "rule 1: want to die")]
    flag_handle(flag=flag, actor=clinician, note="Called the patient; safe with family.")
    rows = {c.pk: (c.flag_open, c.flag_level) for c in with_flag_state(Conversation.objects.all())}
    assert rows[old.pk] == (False, "crisis")
    assert flagged_conversation_ids() == [] and flagged_conversation_ids(open_only=False) == [old.pk]


def test_admin_shows_the_open_flag_badge_to_clinicians_only(flagged, clinician, client):
    client.force_login(clinician)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="safety-open-flags"' in page and "1 open safety flag" in page


def test_clinician_marks_a_flag_handled_with_a_note_from_the_admin(flagged, clinician, client):
    _old, _newer, flag = flagged
    client.force_login(clinician)
    url = reverse("admin:safety_safetyflag_changelist")
    form = client.post(url, {"action": "mark_handled", "_selected_action": [flag.pk]})
    assert form.status_code == 200 and b"Mark handled" in form.content  # asks for the note first
    flag.refresh_from_db()
    assert flag.is_open

    done = client.post(url, {"action": "mark_handled", "_selected_action": [flag.pk],
                             "note": "Spoke with patient, safety plan in place."})
    assert done.status_code == 302
    flag.refresh_from_db()
    assert not flag.is_open and flag.handled_by == clinician
    assert flag.handled_note == "Spoke with patient, safety plan in place."
    event = AuditEvent.objects.get(action="safety.flag_handled")
    assert event.actor == clinician and event.target_id == str(flag.pk)
    assert "safety plan" not in (event.before + event.after + str(event.detail))
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="safety-open-flags"' not in page


def test_handling_without_a_note_is_refused(flagged, clinician):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        flag_handle(flag=flagged[2], actor=clinician, note="   ")


def test_notification_goes_to_clinicians_through_the_email_backend(flagged, clinician, q_sync, settings,
                                                                   django_capture_on_commit_callbacks):
    from conversations.safety.services import flag_notification_send

    settings.CLINICIAN_ALERT_EMAILS = ["oncall@example.org"]
    assert flag_notification_send(flag_id=flagged[2].pk) == 1
    assert mail.outbox[-1].to == ["clinician_cora@example.com", "oncall@example.org"]


def test_clinician_edits_the_crisis_template_and_each_version_is_kept_and_audited(clinician, client):
    template = SafetyTemplate.objects.get(kind="crisis_reply", locale="en-US")
    client.force_login(clinician)
    url = reverse("admin:safety_safetytemplate_change", args=[template.pk])
    body = "You matter. Please reach out right now:\n{resources}"
    response = client.post(url, {"kind": "crisis_reply", "locale": "en-US", "body": body})
    assert response.status_code == 302, response.content[:2000]

    template.refresh_from_db()
    assert template.version == 2 and template.updated_by == clinician
    versions = list(ContentVersion.objects.filter(content_type="safetytemplate", object_id=template.pk))
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].snapshot["body"].startswith("I'm really glad you told me")
    assert versions[1].snapshot["body"] == body and versions[1].changed_by == clinician
    assert AuditEvent.objects.filter(action="safety.safetytemplate_changed", actor=clinician,
                                     target_id=str(template.pk), before="v1", after="v2").exists()
    history = client.get(reverse("admin:safety_contentversion_changelist"),
                         {"content_type": "safetytemplate", "object_id": template.pk})
    assert history.status_code == 200 and history.context["cl"].result_count == 2
    reply = crisis_reply_text(screen=CRISIS)
    assert reply.startswith("You matter.") and "Call or text 988" in reply


def test_clinician_adds_a_phrase_and_an_invalid_pattern_is_refused(clinician, client):
    client.force_login(clinician)
    url = reverse("admin:safety_screeningrule_add")
    bad = client.post(url, {"kind": "pattern", "category": "suicide", "level": "crisis", "text": "(unclosed",
                            "note": "broken", "active": "on"})
    assert bad.status_code == 200 and b"Not a valid regular expression" in bad.content
    good = client.post(url, {"kind": "phrase", "category": "suicide", "level": "crisis", "text": "checking out early",
                             "note": "slang", "active": "on"})
    assert good.status_code == 302
    rule = ScreeningRule.objects.get(note="slang")
    assert AuditEvent.objects.filter(action="safety.screeningrule_created", target_id=str(rule.pk)).exists()


def test_resources_follow_the_deployment_locale(settings):
    settings.CRISIS_LOCALE = "en-GB"
    from conversations.safety.services import content_invalidate

    content_invalidate()
    reply = crisis_reply_text(screen=CRISIS)
    assert "116 123" in reply and "999" in reply and "988" not in reply
    content_invalidate()


def test_staff_can_view_but_not_change_safety_content(staff_user, client):
    template = SafetyTemplate.objects.get(kind="crisis_reply", locale="en-US")
    client.force_login(staff_user)
    url = reverse("admin:safety_safetytemplate_change", args=[template.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"kind": "crisis_reply", "locale": "en-US", "body": "changed"}).status_code == 403
    assert client.get(reverse("admin:safety_safetyflag_changelist")).status_code == 200
    template.refresh_from_db()
    assert template.version == 1


def test_patient_and_anonymous_cannot_reach_the_safety_admin(patient, client):
    url = reverse("admin:safety_safetytemplate_changelist")
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(patient)
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get(reverse("admin:safety_safetyflag_changelist")).status_code == 302


def test_flagging_a_conversation_twice_keeps_both_flags(patient):
    conversation = conversation_create(patient=patient)
    conversation_flag(conversation=conversation, message=None, screen=CRISIS)
    conversation_flag(conversation=conversation, message=None, screen=CRISIS)
    assert SafetyFlag.objects.filter(conversation=conversation).count() == 2
    assert conversation_flag(conversation=conversation, message=None, screen=InputScreen()) is None


def test_api_lists_flags_for_clinicians_and_staff_and_clinicians_handle_them(flagged, clinician, staff_user,
                                                                              patient, client):
    flag = flagged[2]
    url = "/api/v1/safety-flags/"
    client.force_login(patient)
    assert client.get(url).status_code == 403
    client.force_login(staff_user)
    assert [f["id"] for f in client.get(url, {"open": "true"}).json()["results"]] == [flag.pk]
    assert client.post(f"{url}{flag.pk}/handle/", {"note": "x"}, content_type="application/json").status_code == 403

    client.force_login(clinician)
    missing = client.post(f"{url}{flag.pk}/handle/", {}, content_type="application/json")
    assert missing.status_code == 400 and "note" in missing.json()
    done = client.post(f"{url}{flag.pk}/handle/", {"note": "Called, safe now."}, content_type="application/json")
    assert done.status_code == 200
    assert done.json()["is_open"] is False and done.json()["handled_by"] == "clinician_cora"
    assert client.get(url, {"open": "true"}).json()["results"] == []


def test_clinician_handles_a_flag_from_its_page_and_staff_cannot(flagged, clinician, staff_user, client):
    flag = flagged[2]
    url = reverse("admin:safety_safetyflag_change", args=[flag.pk])
    client.force_login(staff_user)
    assert client.get(url).status_code == 200
    assert client.post(url, {"handled_note": "staff note"}).status_code == 403
    client.force_login(clinician)
    assert b'name="handled_note"' in client.get(url).content
    empty = client.post(url, {"handled_note": ""})
    assert empty.status_code == 200 and SafetyFlag.objects.get(pk=flag.pk).is_open
    assert client.post(url, {"handled_note": "Reached the patient by phone."}).status_code == 302
    flag.refresh_from_db()
    assert not flag.is_open and flag.handled_by == clinician and flag.handled_note == "Reached the patient by phone."
    assert b'name="handled_note"' not in client.get(url).content  # handled flags are read-only history
