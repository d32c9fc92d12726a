"""A crisis reply never exists without its safety flag: both are written in one transaction, and
the clinicians' alert is queued only after it commits."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from conversations.models import Message
from conversations.safety.models import SafetyFlag
from conversations.services.chat import conversation_create, message_send, reply_retry

pytestmark = pytest.mark.django_db(transaction=True)

CRISIS = "I am going to kill myself tonight"


def test_a_failure_while_flagging_leaves_no_crisis_reply_without_a_flag(patient, monkeypatch, fake_groq):
    conversation = conversation_create(patient=patient)
    real = SafetyFlag.objects.create

    def broken(**kwargs):
        raise DatabaseError("the flag could not be written")

    monkeypatch.setattr(SafetyFlag.objects, "create", broken)
    with pytest.raises(DatabaseError):
        message_send(conversation=conversation, content=CRISIS)
    said = Message.objects.get(role="patient")
    assert said.content == CRISIS  # the patient's message is kept
    assert not Message.objects.filter(role="assistant").exists() and not SafetyFlag.objects.exists()

    monkeypatch.setattr(SafetyFlag.objects, "create", real)
    turn = reply_retry(message=said)  # "no reply yet": answered once, with the crisis reply and its flag
    assert turn.reply.provider == "safety" and SafetyFlag.objects.get().message_id == said.pk
    assert fake_groq.chat_requests == []  # the model was never asked


def test_the_clinician_alert_is_queued_after_the_reply_and_the_flag_commit(patient, monkeypatch):
    from conversations.safety import services as safety

    queued = []
    monkeypatch.setattr(safety, "flag_notification_enqueue", lambda *, flag_id: queued.append(
        (flag_id, Message.objects.filter(provider="safety").exists())))
    turn = message_send(conversation=conversation_create(patient=patient), content=CRISIS)
    assert queued == [(SafetyFlag.objects.get().pk, True)] and turn.reply.provider == "safety"
