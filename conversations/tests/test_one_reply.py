"""One reply per patient message, enforced by the database: concurrent retries ask the model once,
and a retry racing the first answer never leaves two replies."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, close_old_connections, transaction

from conversations.models import Message
from conversations.services.chat import conversation_create, reply_retry
from conversations.services.turns import answer, input_screen, patient_message_store

pytestmark = pytest.mark.django_db(transaction=True)


def _together(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released at once; results (or exceptions) in order."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001  (reported to the test)
            results[i] = exc
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_the_database_refuses_a_second_reply_to_one_patient_message(patient):
    conversation = conversation_create(patient=patient)
    said = Message.objects.create(conversation=conversation, role="patient", content="hello")
    Message.objects.create(conversation=conversation, role="assistant", content="hi", reply_to=said)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, role="assistant", content="hi again", reply_to=said)


def test_concurrent_retries_of_a_failed_reply_ask_the_model_once_and_keep_one_reply(patient, fake_groq):
    fake_groq.configure(fault="500")
    conversation = conversation_create(patient=patient)
    said, _ = patient_message_store(conversation, "I can't sleep", None)
    failed = answer(said, input_screen(said)[0])
    assert failed.status == "failed"
    fake_groq.configure(fault="", first_token_delay=0.5)
    requests_before = len(fake_groq.chat_requests)

    turns = _together(4, lambda _i: reply_retry(message=failed))

    assert not [t for t in turns if isinstance(t, Exception)], turns
    assert sum(t.created for t in turns) == 1  # the others found it claimed
    assert len(fake_groq.chat_requests) - requests_before == 1
    replies = Message.objects.filter(role="assistant", reply_to=said)
    assert replies.count() == 1 and replies.get().status == "ok" and replies.get().pk == failed.pk


def test_a_retry_racing_the_first_answer_leaves_one_reply(patient, fake_groq):
    fake_groq.configure(first_token_delay=0.6)
    conversation = conversation_create(patient=patient)
    said, _ = patient_message_store(conversation, "Are you there?", None)
    screen = input_screen(said)[0]

    def work(i):
        if i == 0:
            return answer(said, screen)  # the first answer, still in flight when the retry comes
        return reply_retry(message=said)  # "no reply yet": the retry claims the message

    first, retried = _together(2, work)
    assert not isinstance(first, Exception) and not isinstance(retried, Exception), (first, retried)
    replies = Message.objects.filter(role="assistant", reply_to=said)
    assert replies.count() == 1 and replies.get().status == "ok"
    assert Message.objects.filter(role="patient").count() == 1
