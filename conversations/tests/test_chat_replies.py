"""Chat turns through the real groq client against the fake upstream (a real HTTP server)."""

import pytest
from asgiref.sync import async_to_sync

from conversations.models import Message
from conversations.services.chat import conversation_create, message_send, reply_retry
from conversations.services.streaming import message_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(patient):
    return conversation_create(patient=patient)


def stream_events(conversation, content):
    async def collect():
        return [event async for event in message_stream(conversation=conversation, content=content)]

    return async_to_sync(collect)()


def stored(conversation):
    patient = list(conversation.messages.filter(role=Message.Role.PATIENT))
    replies = list(conversation.messages.filter(role=Message.Role.ASSISTANT))
    return patient, replies


def test_normal_reply_is_stored_with_provider_model_and_usage(fake_groq, conversation):
    turn = message_send(conversation=conversation, content="I can't sleep before exams")

    assert "sleep" in turn.reply.content
    assert turn.reply.status == "ok"
    assert (turn.reply.provider, turn.reply.model_name) == ("groq", "llama-3.1-8b-instant")
    assert turn.reply.completion_tokens > 0 and turn.reply.prompt_tokens > 0
    assert turn.reply.latency_ms is not None
    patient, replies = stored(conversation)
    assert [m.content for m in patient] == ["I can't sleep before exams"]
    assert replies == [turn.reply]
    request = fake_groq.chat_requests[0]
    assert request.messages[0]["role"] == "system"
    assert request.messages[-1] == {"role": "user", "content": "I can't sleep before exams"}
    assert not request.stream


def test_streamed_reply_arrives_in_pieces_and_is_stored_whole(fake_groq, conversation):
    events = stream_events(conversation, "Work has been stressful")

    kinds = [e.type for e in events]
    assert kinds[0] == "patient" and kinds[-1] == "done"
    deltas = [e.data["text"] for e in events if e.type == "delta"]
    assert len(deltas) >= 2  # released sentence by sentence
    patient, replies = stored(conversation)
    assert len(patient) == 1 and len(replies) == 1
    assert replies[0].content == "".join(deltas)
    assert replies[0].status == "ok" and replies[0].completion_tokens > 0
    assert fake_groq.chat_requests[0].stream


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("429", "rate limited, HTTP 429"),
        ("500", "internal error (HTTP 500)"),
        ("401", "API key"),
        ("hang", "timeout"),
    ],
)
def test_upstream_failure_stores_one_patient_message_and_a_failed_reply(fake_groq, conversation, settings,
                                                                          fault, reason):
    settings.GROQ_TIMEOUT = 0.3
    fake_groq.configure(fault=fault, hang_seconds=2)

    turn = message_send(conversation=conversation, content="Hello there")

    assert turn.reply.status == "failed"
    assert reason in turn.reply.failure_reason
    patient, replies = stored(conversation)
    assert [m.content for m in patient] == ["Hello there"]
    assert len(replies) == 1
    # At most one retry: never more than two upstream calls for one message.
    assert len(fake_groq.chat_requests) <= 2


def test_stream_dropped_half_way_keeps_the_partial_reply_as_failed(fake_groq, conversation):
    fake_groq.configure(fault="drop", drop_after_chunks=14)

    events = stream_events(conversation, "I feel anxious all the time")

    assert events[-1].type == "error"
    assert "dropped" in events[-1].data["reason"]
    shown = "".join(e.data["text"] for e in events if e.type == "delta")
    patient, replies = stored(conversation)
    assert len(patient) == 1 and len(replies) == 1
    assert replies[0].status == "failed"
    assert replies[0].content == shown and shown  # the first sentence made it through
    assert "dropped" in replies[0].failure_reason


def test_retry_answers_the_same_patient_message_without_duplicates(fake_groq, conversation):
    fake_groq.configure(fault="500")
    failed = message_send(conversation=conversation, content="Are you there?").reply
    fake_groq.configure(fault="")

    turn = reply_retry(message=failed)
    again = reply_retry(message=failed)

    assert turn.reply.pk == failed.pk and turn.reply.status == "ok" and turn.reply.content
    assert again.created is False
    patient, replies = stored(conversation)
    assert len(patient) == 1 and len(replies) == 1
    assert fake_groq.chat_requests[-1].messages[-1]["content"] == "Are you there?"


def test_reply_interrupted_by_a_server_shutdown_is_stored_as_failed_with_what_was_shown(fake_groq, conversation):
    import asyncio

    from conversations.services import streaming

    fake_groq.configure(tokens_per_second=30)

    async def shut_down_mid_reply():
        plan = await streaming._stream_begin(conversation, "I feel lonely")
        first_delta = asyncio.Event()
        events = []

        def emit(event):
            events.append(event)
            if event.type == "delta":
                first_delta.set()

        task = asyncio.create_task(streaming._stream_generate(plan, emit))
        await first_delta.wait()
        task.cancel()  # what the event loop does to running tasks when the server stops
        with pytest.raises(asyncio.CancelledError):
            await task
        return events

    events = async_to_sync(shut_down_mid_reply)()

    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert reply.status == "failed" and reply.failure_reason == streaming.INTERRUPTED
    assert reply.content == events[0].data["text"]
    assert events[-1].type == "error"
