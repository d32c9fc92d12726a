"""Users and transcripts for tests and benchmarks, made through the real services where one exists."""

from __future__ import annotations

import itertools

TEST_PASSWORD = "Calm-harbour-2718"

_counter = itertools.count(1)


def make_patient(username: str, *, consent: bool = True, first_name: str = "", last_name: str = "",
                 email: str = "", phone: str = ""):
    """A patient through the sign-up service (group Patients, profile, consent as given)."""
    from conversations.accounts.services import patient_register

    user = patient_register(username=username, password=TEST_PASSWORD, email=email or f"{username}@example.com",
                            accept_terms=True, training_consent=consent, phone=phone)
    if first_name or last_name:
        user.first_name, user.last_name = first_name, last_name
        user.save(update_fields=["first_name", "last_name"])
    return user


def make_staff_member(username: str, group_name: str):
    """A clinician or staff member (``is_staff``, in the named role group)."""
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, email=f"{username}@example.com",
                                    password=TEST_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=group_name)[0])
    return user


def make_transcript(patient, turns, *, title: str = "", crisis_at: int | None = None):
    """A conversation with alternating patient/assistant messages from ``turns`` (a list of
    (patient_text, reply_text)), written directly (no model); ``crisis_at`` marks that patient
    turn crisis-level."""
    from conversations.models import Conversation, Message

    conversation = Conversation.objects.create(patient=patient, title=title or f"Chat {next(_counter)}")
    for i, (said, reply) in enumerate(turns):
        level = Message.SafetyLevel.CRISIS if crisis_at == i else Message.SafetyLevel.NONE
        p = Message.objects.create(conversation=conversation, role=Message.Role.PATIENT, content=said,
                                   safety_level=level)
        if reply is not None:
            Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content=reply,
                                   reply_to=p)
    return conversation
