"""The Groq provider and the fake upstream themselves: client reuse, refusals, records, idempotency."""

import asyncio
import threading

import httpx
import pytest
from asgiref.sync import async_to_sync

from conversations.providers.base import ProviderError, Usage, run_coroutine
from conversations.providers.groq import groq_provider
from conversations.services.chat import conversation_create, message_send
from devtools.fake_groq import FakeGroq, reply_for, tokens_of

MESSAGES = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "I feel lonely"}]


def collect(provider):
    async def go():
        return [item async for item in provider.stream(MESSAGES)]

    return go()


def test_stream_yields_text_then_usage_from_the_fake(fake_groq):
    items = run_coroutine(collect(groq_provider()))

    assert "".join(i for i in items if isinstance(i, str)) == reply_for("I feel lonely")
    assert isinstance(items[-1], Usage) and items[-1].completion_tokens == len(tokens_of(reply_for("I feel lonely")))
    assert fake_groq.chat_requests[0].body["stream_options"] == {"include_usage": True}


def test_one_client_per_event_loop_and_a_new_one_after_the_loop_closed(fake_groq):
    provider = groq_provider()

    async def client_pair():
        return provider.client(), provider.client()

    first, same = run_coroutine(client_pair())
    assert first is same
    assert run_coroutine(client_pair())[0] is first  # the long-lived provider loop keeps its client
    fresh, _ = async_to_sync(client_pair)()  # another loop, closed afterwards
    assert fresh is not first
    assert async_to_sync(client_pair)()[0] is not fresh  # never a client bound to a closed loop
    # and a new loop still gets working replies
    assert "".join(i for i in asyncio.run(collect(provider)) if isinstance(i, str))


def test_connection_refused_is_a_retryable_unreachable_error(fake_groq, settings):
    with FakeGroq() as stopped_later:
        port = stopped_later.port
    settings.GROQ_BASE_URL = f"http://127.0.0.1:{port}"

    with pytest.raises(ProviderError) as error:
        run_coroutine(collect(groq_provider()))

    assert error.value.retryable and error.value.code == "unreachable"


def test_missing_api_key_is_a_clear_non_retryable_error(fake_groq, settings):
    settings.GROQ_API_KEY = ""

    with pytest.raises(ProviderError) as error:
        run_coroutine(collect(groq_provider()))

    assert not error.value.retryable and "GROQ_API_KEY" in error.value.reason
    assert fake_groq.chat_requests == []


def test_429_is_retried_once_then_succeeds(fake_groq):
    fake_groq.configure(fault="429", fault_times=1, retry_after=0.01)

    items = run_coroutine(collect(groq_provider()))

    assert isinstance(items[-1], Usage) and len(fake_groq.chat_requests) == 2


def test_fake_records_requests_from_many_threads(fake_groq):
    def post(i):
        httpx.post(f"{fake_groq.base_url}/openai/v1/chat/completions", timeout=10,
                   json={"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]})

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.messages[0]["content"] for r in fake_groq.chat_requests) == sorted(f"n{i}" for i in range(20))


def test_fake_pacing_follows_first_token_delay_and_token_rate(fake_groq):
    fake_groq.configure(first_token_delay=0.2, tokens_per_second=100)
    arrivals = []

    async def go():
        loop = asyncio.get_running_loop()
        start = loop.time()
        async for item in groq_provider().stream(MESSAGES):
            if isinstance(item, str):
                arrivals.append(loop.time() - start)

    run_coroutine(go())

    assert 0.18 <= arrivals[0] < 0.5
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / 100 * 0.8


@pytest.mark.django_db
def test_same_idempotency_key_returns_the_first_turn_without_asking_again(fake_groq, patient):
    conversation = conversation_create(patient=patient)

    first = message_send(conversation=conversation, content="hello", idempotency_key="k-1")
    again = message_send(conversation=conversation, content="hello", idempotency_key="k-1")

    assert first.created and not again.created
    assert again.patient_message.pk == first.patient_message.pk and again.reply.pk == first.reply.pk
    assert conversation.messages.count() == 2
    assert len(fake_groq.chat_requests) == 1


def test_server_sent_events_are_parsed_across_network_reads():
    from conversations.providers.groq import ServerSentEvents

    events = ServerSentEvents()
    assert events.feed(b'data: {"a"') == []
    assert events.feed(b': 1}\n\n: a comment\n\nevent: error\r\ndata: line one\r\ndata: line two\r\n\r\nda') == [
        (None, '{"a": 1}'), ("error", "line one\nline two")]
    assert events.feed(b"ta: [DONE]\n\n") == [(None, "[DONE]")]


def test_an_error_object_in_the_stream_is_a_provider_error_after_the_text_before_it(fake_groq):
    from conversations.providers.groq import _chunk_read

    request = httpx.Request("POST", "http://upstream/")
    text: list[str] = []
    usage = _chunk_read(None, '{"choices": [{"delta": {"content": "Hi"}}], "x_groq": {"usage": '
                              '{"prompt_tokens": 3, "completion_tokens": 1}}}', text, httpx.Response(200, request=request))
    assert text == ["Hi"] and usage == Usage(3, 1)
    import groq

    with pytest.raises(groq.APIError, match="overloaded"):
        _chunk_read(None, '{"error": {"message": "overloaded"}}', text, httpx.Response(200, request=request))


def test_streamed_text_arrives_whole_whatever_the_network_batching(fake_groq):
    fake_groq.configure(tokens_per_second=400)
    items = run_coroutine(collect(groq_provider()))
    texts = [i for i in items if isinstance(i, str)]
    assert "".join(texts) == reply_for("I feel lonely") and len(texts) > 1
