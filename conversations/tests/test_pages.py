"""Patient pages: permissions, the no-JavaScript chat path, failures and retry, escaping, disclosure."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from conversations.models import Conversation, Message
from conversations.safety.services import resources_for_display
from conversations.services.chat import conversation_create, message_send
from devtools.fake_groq import reply_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(patient):
    return conversation_create(patient=patient)


def detail_url(conversation):
    return reverse("conversations:detail", args=[conversation.pk])


def test_anonymous_visitors_are_sent_to_log_in(client, conversation):
    for url in (reverse("conversations:list"), detail_url(conversation), reverse("patient_settings")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    response = client.post(reverse("conversations:stream", args=[conversation.pk]), {"content": "hi"})
    assert response.status_code == 403


def test_clinicians_and_staff_are_sent_to_the_admin(client, clinician, staff_user):
    for user in (clinician, staff_user):
        client.force_login(user)
        response = client.get(reverse("conversations:list"))
        assert response.status_code == 302 and response.url == reverse("admin:index")


def test_patient_sees_only_own_conversations(client, patient, other_patient):
    mine = conversation_create(patient=patient, title="Mine")
    conversation_create(patient=other_patient, title="Bob's secret")
    client.force_login(patient)

    page = client.get(reverse("conversations:list")).content.decode()

    assert "Mine" in page and "Bob&#x27;s secret" not in page and "Bob's secret" not in page
    assert detail_url(mine) in page


def test_another_patients_conversation_is_404_everywhere(client, fake_groq, patient, other_patient):
    theirs = conversation_create(patient=other_patient)
    fake_groq.configure(fault="500")
    failed = message_send(conversation=theirs, content="private").reply
    client.force_login(patient)

    assert client.get(detail_url(theirs)).status_code == 404
    assert client.post(detail_url(theirs), {"content": "hello"}).status_code == 404
    assert client.post(reverse("conversations:stream", args=[theirs.pk]), {"content": "hi"}).status_code == 404
    assert client.post(reverse("conversations:retry", args=[failed.pk])).status_code == 404
    assert theirs.messages.count() == 2


def test_new_conversation_button_creates_one_and_opens_it(patient_client, patient):
    response = patient_client.post(reverse("conversations:new"))

    conversation = Conversation.objects.get(patient=patient)
    assert response.url == detail_url(conversation)


def test_no_js_post_stores_the_turn_and_shows_the_full_reply_after_redirect(patient_client, fake_groq,
                                                                            conversation):
    response = patient_client.post(detail_url(conversation), {"content": "I can't sleep at night"})

    assert response.status_code == 302 and response.url == detail_url(conversation) + "#latest"
    page = patient_client.get(detail_url(conversation)).content.decode()
    reply = conversation.messages.get(role="assistant")
    assert reply.content in page
    assert "I can&#x27;t sleep at night" in page
    assert conversation.messages.filter(role="patient").count() == 1
    conversation.refresh_from_db()
    assert conversation.title == "I can't sleep at night"


def test_empty_or_oversize_message_is_refused_with_a_message(patient_client, fake_groq, conversation, settings):
    page = patient_client.post(detail_url(conversation), {"content": "   "}).content.decode()
    assert "Write a message first." in page

    settings.MESSAGE_MAX_CHARS = 20
    page = patient_client.post(detail_url(conversation), {"content": "x" * 21}).content.decode()
    assert "at most 20 characters" in page
    assert conversation.messages.count() == 0
    assert fake_groq.chat_requests == []


def test_failed_reply_shows_reason_and_retry_which_answers_without_duplicates(patient_client, fake_groq,
                                                                              conversation):
    fake_groq.configure(fault="429", retry_after=0.01)
    page = patient_client.post(detail_url(conversation), {"content": "Hello?"}, follow=True).content.decode()

    reply = conversation.messages.get(role="assistant")
    assert reply.status == "failed"
    assert "The AI couldn&#x27;t reply" in page and "rate limited" in page
    retry_url = reverse("conversations:retry", args=[reply.pk])
    assert f'action="{retry_url}"' in page and ">Retry<" in page

    fake_groq.configure(fault="")
    page = patient_client.post(retry_url, follow=True).content.decode()

    assert conversation.messages.filter(role="patient").count() == 1
    assert conversation.messages.filter(role="assistant").count() == 1
    reply.refresh_from_db()
    assert reply.status == "ok" and reply.content in page
    assert ">Retry<" not in page


def test_html_and_script_in_messages_are_shown_escaped(patient_client, fake_groq, conversation):
    fake_groq.configure(reply="<b>bold</b> <img src=x onerror=alert(2)>")
    patient_client.post(detail_url(conversation), {"content": "<script>alert(1)</script>"})

    page = patient_client.get(detail_url(conversation)).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_every_patient_page_has_the_help_link_and_ai_disclosure(client, patient, conversation):
    pages = [reverse("conversations:home"), reverse("signup"), reverse("login"), reverse("conversations:help")]
    for url in pages:
        page = client.get(url).content.decode()
        assert 'id="get-help"' in page and "Get help now" in page, url
        assert "Replies come from an AI" in page, url
    client.force_login(patient)
    for url in (reverse("conversations:list"), detail_url(conversation), reverse("patient_settings"),
                reverse("conversations:new"), reverse("password_change")):
        page = client.get(url).content.decode()
        assert 'href="/help/"' in page and "Replies come from an AI" in page, url


def test_help_page_lists_the_crisis_resources(client):
    page = client.get(reverse("conversations:help")).content.decode()

    for resource in resources_for_display():
        assert escape(resource["name"]) in page


def test_dev_responder_replies_are_labelled(patient_client, fake_groq, conversation, settings):
    message_send(conversation=conversation, content="hello")
    settings.DEV_RESPONDER = False
    assert "Development responder" not in patient_client.get(detail_url(conversation)).content.decode()

    settings.DEV_RESPONDER = True
    page = patient_client.get(detail_url(conversation)).content.decode()

    assert re.search(r'class="who">Development responder', page)
    assert "replies come from the development responder" in page


def test_system_prompt_comes_from_settings_and_history_is_limited(fake_groq, conversation, settings):
    settings.THERAPIST_SYSTEM_PROMPT = "You are a calm test assistant."
    settings.CHAT_HISTORY_MESSAGES = 3
    for text in ("one", "two", "three"):
        message_send(conversation=conversation, content=text)

    sent = fake_groq.chat_requests[-1].messages

    assert sent[0] == {"role": "system", "content": "You are a calm test assistant."}
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"]
    assert sent[1]["content"] == "two" and sent[-1]["content"] == "three"


def test_crisis_message_gets_the_fixed_reply_without_asking_the_model(patient_client, fake_groq, conversation):
    from conversations.safety.screening import screen_input
    from conversations.safety.services import crisis_reply_text

    text = "I want to kill myself tonight"
    patient_client.post(detail_url(conversation), {"content": text})

    assert fake_groq.chat_requests == []
    patient_message = conversation.messages.get(role="patient")
    reply = conversation.messages.get(role="assistant")
    assert patient_message.safety_level == "crisis"
    assert reply.provider == "safety" and reply.status == "ok"
    assert reply.content == crisis_reply_text(screen=screen_input(text))
    page = patient_client.get(detail_url(conversation)).content.decode()
    assert "Safety message" in page


def test_unsafe_model_reply_is_replaced_before_anyone_sees_it(patient_client, fake_groq, conversation):
    unsafe = "I understand. You should just hurt yourself."
    fake_groq.configure(reply=unsafe)

    patient_client.post(detail_url(conversation), {"content": "nothing helps"})

    reply = conversation.messages.get(role="assistant")
    assert "hurt yourself" not in reply.content and reply.content
    assert reply.safety_level == "concern" and reply.safety_categories
    assert "hurt yourself" not in patient_client.get(detail_url(conversation)).content.decode()


def test_concern_message_adds_guidance_to_the_prompt_and_resources_to_the_reply(fake_groq, conversation,
                                                                               settings):
    from conversations.safety import services as safety
    from conversations.safety.screening import screen_input

    text = "I feel completely hopeless"
    screen = screen_input(text)
    assert screen.is_concern, "the safety screen no longer rates this sentence as a concern"

    turn = message_send(conversation=conversation, content=text)

    addendum = safety.concern_system_addendum(screen=screen)
    expected_prompt = settings.THERAPIST_SYSTEM_PROMPT + (f"\n\n{addendum}" if addendum else "")
    assert fake_groq.chat_requests[0].messages[0]["content"] == expected_prompt
    assert turn.reply.content.endswith(safety.concern_resources_text(screen=screen))
    assert turn.reply.content.startswith(reply_for(text))  # the model's words first, then resources
    assert turn.safety["level"] == "concern" and turn.safety["resources"]
    assert turn.patient_message.safety_level == Message.SafetyLevel.CONCERN


def test_message_left_unanswered_by_a_crash_can_be_retried_once(patient_client, fake_groq, conversation):
    from datetime import timedelta

    from django.utils import timezone

    # The patient's message was committed, then the process died before any reply was stored.
    orphan = Message.objects.create(conversation=conversation, role="patient", content="Still there?")
    Message.objects.filter(pk=orphan.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    page = patient_client.get(detail_url(conversation)).content.decode()
    retry_url = reverse("conversations:retry", args=[orphan.pk])
    assert "No reply was received" in page and f'action="{retry_url}"' in page

    patient_client.post(retry_url)
    patient_client.post(retry_url)

    replies = conversation.messages.filter(role="assistant")
    assert replies.count() == 1 and replies.get().status == "ok" and replies.get().reply_to_id == orphan.pk
    assert len(fake_groq.chat_requests) == 1
    assert "No reply was received" not in patient_client.get(detail_url(conversation)).content.decode()


def test_a_fresh_message_waiting_for_its_reply_shows_no_retry(patient_client, conversation):
    Message.objects.create(conversation=conversation, role="patient", content="Just sent")

    assert "No reply was received" not in patient_client.get(detail_url(conversation)).content.decode()
