"""The chat turn response: its body is the serializer's, and Server-Timing only when enabled."""

import json

import pytest
from rest_framework.test import APIClient

from conversations.serializers import ChatTurnSerializer, chat_turn_data
from conversations.services.chat import conversation_create, message_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(patient):
    return conversation_create(patient=patient, title="Sleep")


def test_chat_turn_body_is_exactly_what_the_serializer_gives_for_every_turn(fake_groq, conversation):
    for content in ("I could not sleep again.", "I feel so anxious before work", "I want to kill myself"):
        turn = message_send(conversation=conversation, content=content)
        expected = json.dumps(ChatTurnSerializer(turn).data, sort_keys=True)
        assert json.dumps(chat_turn_data(turn), sort_keys=True) == expected


@pytest.mark.parametrize("enabled", [False, True])
def test_server_timing_tells_the_screen_time_only_when_enabled(fake_groq, patient, conversation, settings, enabled):
    settings.SERVER_TIMING = enabled
    client = APIClient()
    client.force_authenticate(patient)

    response = client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "Hello"},
                           format="json")

    assert response.status_code == 201
    if enabled:
        name, duration = response["Server-Timing"].split(";dur=")
        assert name == "screen" and float(duration) >= 0
    else:
        assert "Server-Timing" not in response


def test_the_streaming_page_tells_the_screen_time_too_when_enabled(fake_groq, patient, conversation, settings):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    settings.SERVER_TIMING = True

    async def go():
        client = AsyncClient()
        await client.aforce_login(patient)
        response = await client.post(f"/conversations/{conversation.pk}/stream/", {"content": "Hello"})
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response, body

    response, body = async_to_sync(go)()
    assert b"event: done" in body
    assert response["Server-Timing"].startswith("screen;dur=")
