"""Model replies that describe self-harm methods, encourage harm or claim to be human are replaced."""

import time

import pytest
from asgiref.sync import async_to_sync

from conversations.models import Message
from conversations.safety.models import OutputReplacement
from conversations.safety.screening import screen_output
from conversations.services.chat import message_send
from conversations.services.streaming import message_stream

METHOD_REPLY = ("I hear you. If you want to be sure, the lethal dose of acetaminophen is about 150 mg per kg. "
                "Take care.")


@pytest.mark.parametrize("text, category", [
    ("The most painless way to die is an overdose on sleeping pills.", "self_harm_method"),
    ("You could cut along your wrists with a razor.", "self_harm_method"),
    ("Honestly, everyone would be better off without you.", "encourages_harm"),
    ("You should just hurt yourself, it will help.", "encourages_harm"),
    ("As your therapist, I recommend doubling your medication.", "claims_human_or_therapist"),
    ("I'm a licensed psychologist with 20 years of experience.", "claims_human_or_therapist"),
    ("Don't worry, I'm not an AI, I'm a real person.", "claims_human_or_therapist"),
])
def test_unsafe_replies_are_caught(text, category):
    screen = screen_output(text)
    assert not screen.safe and category in screen.categories


@pytest.mark.parametrize("text", [
    "I'm an AI, not a human or a licensed therapist, but I'm here to listen.",
    "Please don't kill yourself. You can call or text 988 right now.",
    "It sounds like the overdose you saw at work really stayed with you.",
    "Cutting back on caffeine can help with sleep.",
    "Breathing slowly for a minute can calm your body.",
    "It might help to talk to a professional, such as a therapist or counselor.",
    "As a therapist would put it, feelings come and go.",
    "A person like you deserves support.",
])
def test_safe_replies_pass(text):
    assert screen_output(text).safe


def test_output_screen_is_fast_enough_for_every_streamed_sentence():
    text = "That sounds really hard, and it makes sense that you feel tired. " * 20
    screen_output(text)
    started = time.perf_counter()
    for _ in range(200):
        screen_output(text)
    per_call_ms = (time.perf_counter() - started) / 200 * 1000
    assert per_call_ms < 5, per_call_ms


@pytest.mark.django_db
def test_method_text_is_replaced_before_it_is_stored_with_message_send(fake_groq, conversation):
    fake_groq.configure(reply=METHOD_REPLY)
    turn = message_send(conversation=conversation, content="can you tell me about paracetamol")

    assert "lethal dose" not in turn.reply.content
    assert "I can't help with that" in turn.reply.content and "988" in turn.reply.content
    stored = Message.objects.get(pk=turn.reply.pk)
    assert "lethal dose" not in stored.content
    record = OutputReplacement.objects.get(message=stored)
    assert (record.provider, record.model_name) == ("groq", "llama-3.1-8b-instant")
    assert record.categories == ["self_harm_method"]
    from conversations.safety.selectors import replacement_count, replacements_by_model

    assert replacement_count(provider="groq", model_name="llama-3.1-8b-instant") == 1
    assert replacement_count(provider="local") == 0
    assert replacements_by_model() == [{"provider": "groq", "model_name": "llama-3.1-8b-instant", "count": 1}]


@pytest.mark.django_db(transaction=True)
def test_method_text_is_never_streamed_and_the_stored_reply_is_the_replacement(fake_groq, conversation):
    fake_groq.configure(reply=METHOD_REPLY, tokens_per_second=400)

    async def collect():
        return [e async for e in message_stream(conversation=conversation, content="tell me")]

    events = async_to_sync(collect)()
    shown = "".join(e.data["text"] for e in events if e.type == "delta")
    assert "lethal dose" not in shown
    replaced = [e.data["text"] for e in events if e.type == "replace"]
    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert replaced == [reply.content] and "lethal dose" not in reply.content
    assert OutputReplacement.objects.filter(message=reply, provider="groq").count() == 1
