"""The optional guard model beside the chat model: it can only raise the level, it fails open,
and nothing reaches the patient before it has answered or run out of time.

Against the fake Groq upstream (a real HTTP server): requests for the guard's model name get
the guard's configured answer; the chat model's requests are counted apart.
"""

import time

import pytest
from asgiref.sync import async_to_sync

from conversations.models import Message
from conversations.safety.guard import guard_combine, guard_messages, guard_parse, guard_turns
from conversations.safety.models import SafetyFlag
from conversations.safety.verdicts import InputScreen
from conversations.services.chat import message_send
from conversations.services.streaming import message_stream

GUARD = "meta-llama/llama-guard-4-12b"
ORDINARY = "I had a long day at work and I'm tired"


def stream(conversation, content):
    async def collect():
        started, events = time.monotonic(), []
        async for event in message_stream(conversation=conversation, content=content):
            events.append((event, time.monotonic() - started))
        return events

    return async_to_sync(collect)()


@pytest.fixture
def guard(fake_groq, settings):
    settings.SAFETY_GUARD_MODEL = GUARD
    settings.SAFETY_GUARD_TIMEOUT = 1.0  # generous: the first request of a process also makes its client
    fake_groq.configure(guard_model=GUARD)
    return fake_groq


# --- reading the guard's answers (no network) --------------------------------------------------

@pytest.mark.parametrize("answer, level, categories", [
    ("safe", "none", ()),
    ("  SAFE\n", "none", ()),
    ("unsafe\nS11", "crisis", ("suicide",)),
    ("unsafe\nS1,S11", "crisis", ("harm_to_others", "suicide")),
    ("unsafe\nS4", "crisis", ("abuse_unsafe_home",)),
    ("unsafe\nS8", "none", ()),  # intellectual property: no clinical risk, raises nothing
    ('{"level": "concern", "category": "self_harm"}', "concern", ("self_harm",)),
    ('Sure! {"level": "none", "category": "none"}', "none", ()),
])
def test_guard_answers_in_llama_guard_and_json_formats_are_read(answer, level, categories):
    verdict = guard_parse(answer, GUARD)
    assert verdict.level == level and verdict.categories == categories


@pytest.mark.parametrize("answer", ["", "I cannot help with that.", "unsafe", "unsafe\nnothing", '{"level": "maybe"}',
                                    '{"level": "crisis", "category": "aliens"}', "<html>502 Bad Gateway</html>"])
def test_garbage_from_the_guard_is_no_verdict(answer):
    assert guard_parse(answer, GUARD) is None


def test_the_guard_can_raise_the_level_but_never_lower_it():
    crisis = InputScreen("crisis", ("suicide",), ("rule",))
    concern = InputScreen("concern", ("self_harm",), ("model",))
    assert guard_combine(crisis, InputScreen()) is crisis
    assert guard_combine(crisis, concern) is crisis
    assert guard_combine(concern, None) is concern
    raised = guard_combine(concern, InputScreen("crisis", ("suicide",), ("guard",)))
    assert raised.level == "crisis" and raised.categories == ("self_harm", "suicide")


def test_llama_guard_gets_the_conversation_and_other_models_the_classifier_prompt():
    prompt = [{"role": "system", "content": "therapist"}, {"role": "assistant", "content": "hi"},
              {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
              {"role": "user", "content": "c"}]
    turns = guard_turns(prompt)
    assert turns == prompt[2:]  # starts with the patient, no system prompt
    assert guard_messages(GUARD, turns) == turns
    prompted = guard_messages("llama-3.1-8b-instant", turns)
    assert prompted[0]["role"] == "system" and "LATEST message" in prompted[0]["content"]
    assert prompted[1]["content"] == "Earlier message: a\nLatest message: c"


# --- the chat flow, without streaming -----------------------------------------------------------

@pytest.mark.django_db
def test_guard_says_safe_and_the_reply_is_the_models(guard, conversation):
    turn = message_send(conversation=conversation, content=ORDINARY)

    assert turn.reply.provider == "groq" and turn.safety["level"] == "none"
    assert len(guard.chat_requests) == 1 and len(guard.guard_requests) == 1
    asked = guard.guard_requests[0].body
    assert asked["model"] == GUARD and asked["messages"][-1] == {"role": "user", "content": ORDINARY}
    assert guard.chat_requests[0].body["model"] != GUARD


@pytest.mark.django_db
def test_a_crisis_from_the_guard_gets_the_crisis_reply_and_flag_as_a_local_crisis(guard, conversation):
    guard.configure(guard_reply="unsafe\nS11")
    turn = message_send(conversation=conversation, content=ORDINARY)

    assert (turn.reply.provider, turn.reply.model_name) == ("safety", "crisis-template")
    assert "988" in turn.reply.content
    assert turn.safety["level"] == "crisis" and turn.safety["categories"] == ["suicide"]
    assert turn.patient_message.safety_level == "crisis"
    flag = SafetyFlag.objects.get(conversation=conversation)
    assert flag.level == "crisis" and "guard" in flag.reason
    assert conversation.messages.filter(role=Message.Role.ASSISTANT).count() == 1


@pytest.mark.django_db
def test_a_concern_from_a_prompted_guard_adds_the_resources(guard, conversation, settings):
    settings.SAFETY_GUARD_MODEL = "llama-3.1-8b-instant-classifier"
    guard.configure(guard_model="llama-3.1-8b-instant-classifier",
                    guard_reply='{"level": "concern", "category": "suicide"}')
    turn = message_send(conversation=conversation, content=ORDINARY)

    assert turn.safety["level"] == "concern" and turn.reply.provider == "groq"
    assert "Call or text 988" in turn.reply.content
    assert "LATEST message" in guard.guard_requests[0].messages[0]["content"]


@pytest.mark.django_db
@pytest.mark.parametrize("failure", [{"guard_fault": "500"}, {"guard_fault": "hang"}, {"guard_delay": 3.0},
                                     {"guard_reply": "I'm sorry, I can't classify that."}])
def test_a_guard_that_is_down_slow_or_talks_nonsense_leaves_the_local_verdict(guard, conversation, failure):
    guard.configure(**failure)
    started = time.monotonic()
    turn = message_send(conversation=conversation, content=ORDINARY)

    assert turn.reply.provider == "groq" and turn.reply.status == "ok"
    assert turn.safety["level"] == "none"
    assert time.monotonic() - started < 2.5  # the guard's 1 s limit, not its 3 s or its hang


@pytest.mark.django_db
def test_the_guard_never_lowers_a_local_crisis_and_is_not_asked_for_one(guard, conversation):
    turn = message_send(conversation=conversation, content="I want to kill myself tonight")

    assert turn.reply.provider == "safety" and turn.safety["level"] == "crisis"
    assert guard.chat_requests == [] and guard.guard_requests == []


# --- the chat flow, streaming -------------------------------------------------------------------

@pytest.mark.django_db
def test_streamed_text_waits_for_the_guard(guard, conversation):
    guard.configure(guard_delay=0.3)
    events = stream(conversation, ORDINARY)

    deltas = [(e, at) for e, at in events if e.type == "delta"]
    assert deltas and min(at for _e, at in deltas) >= 0.3
    assert events[-1][0].type == "done" and events[-1][0].data["safety"]["level"] == "none"
    assert len(guard.guard_requests) == 1 and len(guard.chat_requests) == 1


@pytest.mark.django_db
def test_a_streamed_crisis_from_the_guard_stops_the_model_and_sends_only_the_crisis_reply(guard, conversation):
    guard.configure(guard_reply="unsafe\nS11", guard_delay=0.2, tokens_per_second=20)
    events = [e for e, _at in stream(conversation, ORDINARY)]

    assert [e.type for e in events] == ["patient", "delta", "done"]
    assert "988" in events[1].data["text"] and events[-1].data["safety"]["level"] == "crisis"
    replies = conversation.messages.filter(role=Message.Role.ASSISTANT)
    assert [(r.provider, r.content) for r in replies] == [("safety", events[1].data["text"])]
    assert SafetyFlag.objects.filter(conversation=conversation, level="crisis").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("failure", [{"guard_fault": "500"}, {"guard_fault": "hang"}, {"guard_reply": "???"}])
def test_a_streamed_reply_goes_on_when_the_guard_fails(guard, conversation, failure):
    guard.configure(**failure)
    events = [e for e, _at in stream(conversation, ORDINARY)]

    assert events[-1].type == "done" and events[-1].data["provider"] == "groq"
    shown = "".join(e.data["text"] for e in events if e.type == "delta")
    assert shown == conversation.messages.get(role=Message.Role.ASSISTANT).content


@pytest.mark.django_db
def test_with_the_guard_off_nothing_is_sent_to_it(fake_groq, conversation, settings):
    settings.SAFETY_GUARD_MODEL = ""
    stream(conversation, ORDINARY)
    message_send(conversation=conversation, content=ORDINARY)

    assert fake_groq.guard_requests == [] and len(fake_groq.chat_requests) == 2
