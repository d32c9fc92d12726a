"""Fixtures for curation tests: transcripts built directly in the database (no LLM)."""

import itertools

import pytest

from conversations.models import Conversation, Message

_counter = itertools.count(1)


def make_transcript(patient, turns, *, title="", crisis_at=None):
    """A conversation with alternating patient/assistant messages from ``turns``
    (a list of (patient_text, reply_text)); ``crisis_at`` marks that patient turn crisis-level."""
    conversation = Conversation.objects.create(patient=patient, title=title or f"Chat {next(_counter)}")
    for i, (said, reply) in enumerate(turns):
        level = Message.SafetyLevel.CRISIS if crisis_at == i else Message.SafetyLevel.NONE
        p = Message.objects.create(conversation=conversation, role=Message.Role.PATIENT, content=said,
                                   safety_level=level)
        if reply is not None:
            Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content=reply,
                                   reply_to=p)
    return conversation


def make_patient(username, *, consent=True, first_name="", last_name="", email="", phone=""):
    from conftest import TEST_PASSWORD
    from conversations.services import patient_register

    user = patient_register(username=username, password=TEST_PASSWORD, email=email or f"{username}@example.org",
                            accept_terms=True, training_consent=consent, phone=phone)
    if first_name or last_name:
        user.first_name, user.last_name = first_name, last_name
        user.save(update_fields=["first_name", "last_name"])
    return user


@pytest.fixture
def transcript(patient):
    return make_transcript(patient, [("I feel anxious about work.", "That sounds hard. What worries you most?"),
                                     ("My deadlines.", "Let's break them into small steps.")])
