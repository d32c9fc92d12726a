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


def make_model_version(path, *, name: str | None = None, base_model: str = "", conversation_ids=(),
                       message_ids=(), metrics: dict | None = None):
    """The database rows of a published version whose folder (adapter + manifest) is ``path``:
    a finished run, the snapshot of what it trained on (these conversations/messages), the version."""
    from pathlib import Path

    from training import storage
    from training.models import DatasetSnapshot, ModelVersion, TrainingRun

    path = Path(path)
    snapshot = DatasetSnapshot.objects.create(
        content_hash=f"{next(_counter):064x}", example_count=len(conversation_ids), train_count=len(conversation_ids),
        eval_count=0, message_count=len(message_ids),
        examples=[{"conversation_id": cid, "message_ids": list(message_ids), "redaction_hash": "0" * 64,
                   "split": "train"} for cid in conversation_ids])
    run = TrainingRun.objects.create(trigger="manual", status="succeeded", snapshot=snapshot,
                                     loss_history=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}])
    return ModelVersion.objects.create(
        name=name or path.name, path=str(path), base_model=base_model, run=run, snapshot=snapshot,
        metrics=metrics or {"eval_loss": 1.0, "eval_perplexity": 2.7, "base_eval_loss": 2.0,
                            "base_eval_perplexity": 7.4},
        manifest_sha256=storage.manifest_sha256(path))
