"""Clinicians close the loop: handled flags and messages marked as missed risk or false alarm
become labelled examples for the next screening model's training (never evaluation data),
permission-checked and audited, and erased with the patient."""

import pytest
from django.urls import reverse

from conversations.models import Message
from conversations.safety import screen_data
from conversations.safety.models import ScreeningExample
from conversations.safety.services import conversation_flag, flag_handle
from conversations.safety.verdicts import InputScreen
from devtools.factories import make_transcript
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db

FLAGS = reverse("admin:safety_safetyflag_changelist")


def review_url(conversation):
    return reverse("admin:clinicians_transcript_change", args=[conversation.pk])


@pytest.fixture
def transcript(patient):
    """Three patient turns; the second was flagged at concern (suicide)."""
    conversation = make_transcript(patient, [("my cat knocked my tea over", "oh no"),
                                             ("i wrote letters to everyone", "that sounds like a lot"),
                                             ("thanks for trying, this is my last message", None)])
    first, second, third = conversation.messages.filter(role=Message.Role.PATIENT).order_by("id")
    Message.objects.filter(pk=second.pk).update(safety_level="concern", safety_categories=["suicide"])
    flag = conversation_flag(conversation=conversation, message=second,
                             screen=InputScreen("concern", ("suicide",), ("model",)))
    return conversation, (first, second, third), flag


def test_a_handled_flag_becomes_a_training_example_with_its_context(transcript, clinician):
    conversation, (first, second, _third), flag = transcript
    flag_handle(flag=flag, actor=clinician, note="Called; safe with a friend.")

    example = ScreeningExample.objects.get()
    assert (example.message, example.level, example.category, example.source) == (second, "concern", "suicide",
                                                                                  "flag_handled")
    examples, summaries, _ = screen_data.training_data()
    fed = [e for e in examples if e["source"] == screen_data.FEEDBACK]
    assert fed == [{"text": second.content, "context": [first.content], "level": "concern", "category": "suicide",
                    "source": screen_data.FEEDBACK, "id": example.pk, "labelled": fed[0]["labelled"]}]
    assert summaries[-1]["name"] == screen_data.FEEDBACK and summaries[-1]["example_ids"] == [example.pk]


def test_clinician_marks_a_miss_on_the_review_page_and_it_reaches_training_then_erasure_removes_it(
        transcript, clinician, client, patient):
    from conversations.accounts.services import patient_erase

    conversation, (_first, second, third), _flag = transcript
    client.force_login(clinician)
    response = client.post(review_url(conversation), {"op": "screen_missed", "message": third.pk,
                                                      "level": "crisis", "category": "suicide"})
    assert response.status_code == 302
    example = ScreeningExample.objects.get(message=third)
    assert (example.level, example.category, example.source, example.labelled_by) == (
        "crisis", "suicide", "missed_risk", clinician)
    event = AuditEvent.objects.get(action="safety.screening_example_labelled")
    assert event.target_id == str(third.pk) and third.content not in str(event.detail) + event.after
    page = client.get(review_url(conversation)).content.decode()
    assert f'id="screen-label-{third.pk}"' in page and "missed risk" in page

    record = next(e for e in screen_data.training_data()[0] if e["source"] == screen_data.FEEDBACK)
    assert record["text"] == third.content and record["context"] == [_first.content, second.content]
    assert record["level"] == "crisis"

    patient_erase(user=patient, actor=None)
    assert not ScreeningExample.objects.exists()
    assert [e for e in screen_data.training_data()[0] if e["source"] == screen_data.FEEDBACK] == []


def test_false_alarm_from_the_flag_admin_wins_over_the_flag_being_handled_later(transcript, clinician, client):
    conversation, (_first, second, _third), flag = transcript
    client.force_login(clinician)
    response = client.post(FLAGS, {"action": "mark_false_alarm", "_selected_action": [flag.pk]})
    assert response.status_code == 302
    flag_handle(flag=flag, actor=clinician, note="Checked: a writing exercise from therapy.")

    example = ScreeningExample.objects.get()
    assert (example.message, example.level, example.category, example.source) == (second, "none", "", "false_alarm")
    record = next(e for e in screen_data.training_data()[0] if e["source"] == screen_data.FEEDBACK)
    assert (record["level"], record["category"]) == ("none", "none")


def test_missed_risk_from_the_flag_admin_asks_for_level_and_category(transcript, clinician, client):
    _conversation, (_first, second, _third), flag = transcript
    client.force_login(clinician)
    form = client.post(FLAGS, {"action": "mark_missed_risk", "_selected_action": [flag.pk]})
    assert form.status_code == 200 and b"Label missed risk" in form.content
    assert not ScreeningExample.objects.exists()

    done = client.post(FLAGS, {"action": "mark_missed_risk", "_selected_action": [flag.pk], "level": "crisis",
                               "category": "suicide"})
    assert done.status_code == 302
    assert ScreeningExample.objects.get().level == "crisis"


def test_feedback_is_never_evaluation_data():
    training = {str(p) for p in screen_data.training_files().values()}
    assert not training & {str(p) for p in screen_data.EVALUATION_PATHS}
    assert not any(screen_data.BLIND_DIR in p.parents for p in screen_data.training_files().values())


@pytest.mark.parametrize("who, allowed", [("patient", False), ("staff_user", False), ("clinician", True),
                                          (None, False)])
def test_only_clinicians_may_label_messages_for_the_screen(who, allowed, transcript, client, request):
    conversation, (_first, second, third), flag = transcript
    if who:
        client.force_login(request.getfixturevalue(who))
    client.post(FLAGS, {"action": "mark_false_alarm", "_selected_action": [flag.pk]})
    client.post(review_url(conversation), {"op": "screen_missed", "message": third.pk, "level": "crisis",
                                           "category": "suicide"})
    labelled = set(ScreeningExample.objects.values_list("message_id", flat=True))
    assert labelled == ({second.pk, third.pk} if allowed else set())


@pytest.mark.parametrize("who, status", [("patient", 302), ("staff_user", 200), ("clinician", 200), (None, 302)])
def test_the_screening_model_page_is_for_clinicians_and_staff(who, status, client, request):
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("admin:safety_screening_model"))
    assert response.status_code == status
    if status == 200:
        from conversations.safety.screen_model import get_screen_model

        assert get_screen_model().version in response.content.decode()


def test_only_a_patients_message_can_be_labelled(transcript, clinician):
    from django.core.exceptions import ValidationError

    from conversations.safety.feedback import false_alarm_mark

    conversation, _messages, _flag = transcript
    reply = conversation.messages.filter(role=Message.Role.ASSISTANT).first()
    with pytest.raises(ValidationError):
        false_alarm_mark(message=reply, actor=clinician)
