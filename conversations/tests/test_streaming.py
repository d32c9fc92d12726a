"""The streaming endpoint (server-sent events from an async view), through the ASGI test client."""

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse

from conversations.services.chat import conversation_create
from devtools.fake_groq import reply_for

pytestmark = pytest.mark.django_db


def post_stream(user, conversation_id, content):
    """POST to the stream endpoint as ``user``; returns (status, content type, [(event, data)])."""

    async def go():
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        response = await client.post(reverse("conversations:stream", args=[conversation_id]), {"content": content})
        if not response.streaming:
            is_json = response["Content-Type"].startswith("application/json")
            return response.status_code, response["Content-Type"], (
                json.loads(response.content) if is_json else response.content.decode())
        body = b"".join([chunk async for chunk in response.streaming_content]).decode()
        events = []
        for block in filter(None, body.split("\n\n")):
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["event"], json.loads(lines["data"])))
        return response.status_code, response["Content-Type"], events

    return async_to_sync(go)()


@pytest.fixture
def conversation(patient):
    return conversation_create(patient=patient)


def test_stream_endpoint_sends_sse_events_and_stores_the_turn(fake_groq, patient, conversation):
    status, content_type, events = post_stream(patient, conversation.pk, "Work is a lot lately")

    assert status == 200 and content_type.startswith("text/event-stream")
    assert [name for name, _ in events][0] == "patient"
    assert events[-1][0] == "done"
    text = "".join(data["text"] for name, data in events if name == "delta")
    reply = conversation.messages.get(role="assistant")
    assert reply.content == text and reply.status == "ok"
    assert events[-1][1]["reply_id"] == reply.pk
    assert conversation.messages.filter(role="patient").count() == 1


def test_stream_failure_sends_an_error_event_with_a_retry_url(fake_groq, patient, conversation):
    fake_groq.configure(fault="500")

    status, _, events = post_stream(patient, conversation.pk, "Hello")

    name, data = events[-1]
    reply = conversation.messages.get(role="assistant")
    assert name == "error" and "HTTP 500" in data["reason"]
    assert data["retry_url"] == reverse("conversations:retry", args=[reply.pk])
    assert reply.status == "failed"


def test_stream_refuses_empty_message_with_400_and_stores_nothing(fake_groq, patient, conversation):
    status, _, body = post_stream(patient, conversation.pk, "  ")

    assert status == 400 and body["detail"] == "Write a message first."
    assert conversation.messages.count() == 0


def test_stream_is_403_for_anonymous_and_staff_and_404_for_other_patients(fake_groq, patient, other_patient,
                                                                           clinician, conversation):
    assert post_stream(None, conversation.pk, "hi")[0] == 403
    assert post_stream(clinician, conversation.pk, "hi")[0] == 403
    assert post_stream(other_patient, conversation.pk, "hi")[0] == 404
    assert conversation.messages.count() == 0
    assert fake_groq.chat_requests == []


def test_unsafe_text_is_never_streamed_and_the_replacement_is_stored(fake_groq, patient, conversation):
    fake_groq.configure(reply="That sounds hard. You should just hurt yourself. Then rest.")

    _, _, events = post_stream(patient, conversation.pk, "nothing helps")

    shown = "".join(data["text"] for name, data in events if name == "delta")
    assert "hurt yourself" not in shown
    replace = [data["text"] for name, data in events if name == "replace"]
    reply = conversation.messages.get(role="assistant")
    assert replace == [reply.content] and "hurt yourself" not in reply.content
    assert events[-1][0] == "done"


def test_crisis_message_streams_the_fixed_reply_without_the_model(fake_groq, patient, conversation):
    _, _, events = post_stream(patient, conversation.pk, "I am going to kill myself")

    assert fake_groq.chat_requests == []
    assert events[-1][0] == "done" and events[-1][1]["provider"] == "safety"
    assert events[-1][1]["safety"]["level"] == "crisis" and events[-1][1]["safety"]["resources"]


def test_reply_is_finished_and_stored_when_the_patient_leaves_mid_stream(asgi_live_server, fake_groq, patient,
                                                                          conversation):
    import time

    import httpx

    fake_groq.configure(tokens_per_second=40)
    with httpx.Client(base_url=asgi_live_server.url, timeout=10) as http:
        http.get(reverse("login"))
        token = http.cookies["csrftoken"]
        http.post(reverse("login"), data={"username": patient.username, "password": "Calm-harbour-2718",
                                          "csrfmiddlewaretoken": token})
        url = reverse("conversations:stream", args=[conversation.pk])
        with http.stream("POST", url, data={"content": "I feel lonely", "csrfmiddlewaretoken":
                                            http.cookies["csrftoken"]}) as response:
            for line in response.iter_lines():
                if line.startswith("event: delta"):
                    break  # the patient closes the tab after the first sentence
    deadline = time.monotonic() + 10
    while not conversation.messages.filter(role="assistant").exists() and time.monotonic() < deadline:
        time.sleep(0.1)

    reply = conversation.messages.get(role="assistant")
    assert reply.status == "ok" and reply.content == reply_for("I feel lonely")
