"""A crisis message gets the fixed reply with resources whatever the LLM does; the LLM is never asked."""

import pytest
from asgiref.sync import async_to_sync
from django.core import mail

from conversations.models import Message
from conversations.safety.models import SafetyFlag
from conversations.services.chat import message_send
from conversations.services.streaming import message_stream

pytestmark = pytest.mark.django_db

CRISIS = "I've decided to end my life tonight, I have the pills ready"
INDIRECT = "honestly everyone would be better off without me"


def stream(conversation, content):
    async def collect():
        return [event async for event in message_stream(conversation=conversation, content=content)]

    return async_to_sync(collect)()


def assert_crisis_reply(reply, turn_safety=None):
    assert reply.status == Message.Status.OK
    assert (reply.provider, reply.model_name) == ("safety", "crisis-template")
    assert "988" in reply.content and "988lifeline.org" in reply.content and "911" in reply.content
    assert "I'm an AI" in reply.content
    if turn_safety is not None:
        assert turn_safety["level"] == "crisis"
        assert "suicide" in turn_safety["categories"]
        assert any("988" in r["contact"] for r in turn_safety["resources"])


def test_crisis_gets_fixed_reply_when_groq_is_down_and_the_llm_is_not_asked(conversation, settings,
                                                                              django_capture_on_commit_callbacks):
    settings.GROQ_BASE_URL = "http://127.0.0.1:9/"  # nothing listens: connection refused
    turn = message_send(conversation=conversation, content=CRISIS)

    assert_crisis_reply(turn.reply, turn.safety)
    assert turn.patient_message.safety_level == "crisis"
    flag = SafetyFlag.objects.get(conversation=conversation)
    assert flag.level == "crisis" and flag.is_open and flag.message == turn.patient_message


def test_crisis_gets_fixed_reply_when_groq_is_up_and_the_llm_is_not_asked(fake_groq, conversation):
    turn = message_send(conversation=conversation, content=CRISIS)

    assert_crisis_reply(turn.reply, turn.safety)
    assert fake_groq.chat_requests == []


def test_indirect_crisis_phrasing_gets_the_fixed_reply(fake_groq, conversation):
    turn = message_send(conversation=conversation, content=INDIRECT)

    assert_crisis_reply(turn.reply)
    assert fake_groq.chat_requests == []


def test_streamed_crisis_sends_the_fixed_reply_and_never_calls_the_llm(fake_groq, conversation):
    events = stream(conversation, "I've been giving my things away, I won't need them")

    assert [e.type for e in events] == ["patient", "delta", "done"]
    assert "988" in events[1].data["text"]
    assert events[-1].data["safety"]["level"] == "crisis"
    assert fake_groq.chat_requests == []
    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert reply.content == events[1].data["text"]


def test_streamed_crisis_with_groq_down_still_gets_the_fixed_reply(conversation, settings):
    settings.GROQ_BASE_URL = "http://127.0.0.1:9/"
    events = stream(conversation, "my dad hits me and I'm scared to go home")

    assert events[-1].type == "done"
    assert events[-1].data["safety"]["level"] == "crisis"
    assert "abuse_unsafe_home" in events[-1].data["safety"]["categories"]
    assert "988" in events[1].data["text"]


def test_crisis_flag_emails_clinicians_after_commit(conversation, clinician, settings, q_sync,
                                                    django_capture_on_commit_callbacks):
    settings.CLINICIAN_ALERT_EMAILS = ["oncall@example.org"]
    settings.GROQ_BASE_URL = "http://127.0.0.1:9/"
    with django_capture_on_commit_callbacks(execute=True):
        turn = message_send(conversation=conversation, content=CRISIS)

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert sorted(email.to) == ["clinician_cora@example.com", "oncall@example.org"]
    assert "CRISIS" in email.subject and str(conversation.pk) in email.subject
    assert CRISIS not in email.body  # no patient text leaves the system by e-mail
    flag = SafetyFlag.objects.get(conversation=conversation)
    assert f"/admin/safety/safetyflag/{flag.pk}/change/" in email.body
    assert turn.reply.provider == "safety"


def test_no_email_for_an_ordinary_message(fake_groq, conversation, clinician, q_sync,
                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        turn = message_send(conversation=conversation, content="I had a stressful day at work")

    assert mail.outbox == []
    assert turn.safety == {"level": "none", "categories": [], "resources": []}
    assert not SafetyFlag.objects.exists()
    assert len(fake_groq.chat_requests) == 1


def test_concern_asks_the_llm_with_a_safety_addendum_and_appends_resources(fake_groq, conversation):
    turn = message_send(conversation=conversation, content="I feel so hopeless lately")

    assert turn.safety["level"] == "concern"
    assert len(fake_groq.chat_requests) == 1
    system = fake_groq.chat_requests[0].messages[0]["content"]
    assert "SAFETY NOTE" in system and "suicide" in system
    assert turn.reply.provider == "groq"
    reply_text, resources = turn.reply.content.split("\n\nIf things feel overwhelming", 1)
    assert reply_text.strip()  # the model's own answer comes first, the resources after it
    assert "Call or text 988" in resources and "911" in resources
    assert turn.safety["resources"][0]["contact"] == "Call or text 988"


def test_idioms_and_negations_reach_the_llm_without_resources(fake_groq, conversation):
    for text in ("this exam is killing me", "I'd die for a coffee", "I would never hurt myself, just tired"):
        turn = message_send(conversation=conversation, content=text)
        assert turn.safety["level"] == "none", text
        assert "988" not in turn.reply.content
    assert len(fake_groq.chat_requests) == 3


def test_api_message_response_carries_the_safety_object(conversation, patient, client, settings):
    settings.GROQ_BASE_URL = "http://127.0.0.1:9/"
    client.force_login(patient)
    response = client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": CRISIS},
                           content_type="application/json")

    assert response.status_code in (200, 201), response.content
    body = response.json()
    assert body["safety"]["level"] == "crisis"
    assert "suicide" in body["safety"]["categories"]
    assert {"name", "contact", "url"} <= set(body["safety"]["resources"][0])


def test_streamed_concern_reply_ends_with_the_resources(fake_groq, conversation):
    # (a rule says concern; indirect phrasings the classifier scores may now reach crisis)
    events = stream(conversation, "I feel so hopeless lately")

    assert events[-1].type == "done" and events[-1].data["safety"]["level"] == "concern"
    shown = "".join(e.data["text"] for e in events if e.type == "delta")
    assert "Call or text 988" in shown.split("If things feel overwhelming", 1)[1]
    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert reply.content == shown and reply.provider == "groq"
    assert "SAFETY NOTE" in fake_groq.chat_requests[0].messages[0]["content"]
