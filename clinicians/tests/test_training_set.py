"""The training set is exactly: approved + consented + not erased + not excluded (+ redacted)."""

import json

import pytest
from django.core.management import call_command

from clinicians import selectors, services, training_set
from clinicians.models import Redaction
from conversations.accounts.services import patient_consent_set, patient_erase
from conversations.models import Message
from devtools.factories import make_patient, make_transcript
from therapist_ai.models import AuditEvent

pytestmark = pytest.mark.django_db


def export_lines(tmp_path):
    out = tmp_path / "set.jsonl"
    call_command("export_dataset", "--out", str(out))
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_export_contains_exactly_approved_consented_not_excluded_messages(tmp_path, clinician, settings):
    consenting = make_patient("p_yes", consent=True)
    declining = make_patient("p_no", consent=False)
    approved = make_transcript(consenting, [("hello one", "reply one"), ("hello two", "reply two")])
    unreviewed = make_transcript(consenting, [("not reviewed", "nope")])
    rejected = make_transcript(consenting, [("rejected text", "nope")])
    no_consent = make_transcript(declining, [("no consent text", "nope")])
    partly_excluded = make_transcript(consenting, [("keep me", "kept reply"), ("drop me", "dropped reply")])
    for conv in (approved, rejected, no_consent, partly_excluded):
        services.transcript_approve(conversation=conv, clinician=clinician)
    services.transcript_reject(conversation=rejected, clinician=clinician, reason="off topic")
    drop = partly_excluded.messages.get(content="drop me")
    services.message_exclude(message=drop, clinician=clinician, reason="identifying story")

    lines = export_lines(tmp_path)

    by_conv = {line["conversation_id"]: line for line in lines}
    assert set(by_conv) == {approved.pk, partly_excluded.pk}
    assert by_conv[approved.pk]["messages"] == [
        {"role": "system", "content": settings.THERAPIST_SYSTEM_PROMPT},
        {"role": "user", "content": "hello one"}, {"role": "assistant", "content": "reply one"},
        {"role": "user", "content": "hello two"}, {"role": "assistant", "content": "reply two"},
    ]
    # the reply to an excluded patient message goes with it
    assert [m["content"] for m in by_conv[partly_excluded.pk]["messages"][1:]] == ["keep me", "kept reply"]
    exported_ids = {i for line in lines for i in line["message_ids"]}
    assert exported_ids == set(approved.messages.values_list("id", flat=True)) | {
        partly_excluded.messages.get(content="keep me").pk, partly_excluded.messages.get(content="kept reply").pk}
    assert training_set.training_message_count() == len(exported_ids)
    assert unreviewed.pk not in by_conv


def test_consent_withdrawal_removes_patient_from_next_export_but_keeps_history(tmp_path, clinician):
    patient = make_patient("p_withdraw")
    conv = make_transcript(patient, [("hi", "hello")])
    services.transcript_approve(conversation=conv, clinician=clinician)
    assert [line["conversation_id"] for line in export_lines(tmp_path)] == [conv.pk]

    patient_consent_set(user=patient, training_consent=False)

    assert export_lines(tmp_path) == []
    assert conv.messages.count() == 2  # the patient still sees their chat
    assert AuditEvent.objects.filter(action="patient.training_consent", target_id=str(patient.pk),
                                     after="declined").exists()
    patient_consent_set(user=patient, training_consent=True)
    assert [line["conversation_id"] for line in export_lines(tmp_path)] == [conv.pk]


def test_erasure_removes_patient_from_next_export(tmp_path, clinician):
    patient = make_patient("p_erase")
    stays = make_patient("p_stays")
    gone = make_transcript(patient, [("hi", "hello")])
    kept = make_transcript(stays, [("hey", "hi there")])
    for conv in (gone, kept):
        services.transcript_approve(conversation=conv, clinician=clinician)

    patient_erase(user=patient, actor=patient)

    assert [line["conversation_id"] for line in export_lines(tmp_path)] == [kept.pk]


def test_new_messages_after_approval_stay_out_until_approved_again(tmp_path, clinician):
    patient = make_patient("p_more")
    conv = make_transcript(patient, [("first", "first reply")])
    services.transcript_approve(conversation=conv, clinician=clinician)
    p = Message.objects.create(conversation=conv, role="patient", content="second")
    Message.objects.create(conversation=conv, role="assistant", content="second reply", reply_to=p)

    assert [m["content"] for m in export_lines(tmp_path)[0]["messages"][1:]] == ["first", "first reply"]
    row = selectors.transcript_queue().get(pk=conv.pk)
    assert (row.queue_status, row.pending_messages) == ("pending", 2)

    services.transcript_approve(conversation=conv, clinician=clinician)
    assert len(export_lines(tmp_path)[0]["messages"]) == 5


def test_crisis_flagged_transcript_needs_explicit_inclusion(tmp_path, clinician):
    patient = make_patient("p_crisis")
    conv = make_transcript(patient, [("rough week", "I'm sorry"), ("I want to end my life", "crisis template"),
                                     ("thanks for listening", "you're welcome")], crisis_at=1)
    services.transcript_approve(conversation=conv, clinician=clinician)
    assert export_lines(tmp_path) == []

    services.transcript_crisis_include(conversation=conv, clinician=clinician, include=True,
                                       reason="reviewed with supervisor")
    contents = [m["content"] for m in export_lines(tmp_path)[0]["messages"][1:]]
    # the crisis turn and its template reply never train the model
    assert contents == ["rough week", "I'm sorry", "thanks for listening", "you're welcome"]


def test_failed_replies_are_left_out_and_turns_alternate(tmp_path, clinician):
    patient = make_patient("p_failed")
    conv = make_transcript(patient, [("question", None)])
    first = conv.messages.get()
    # A failed reply from before replies were unique per message (the migration detached it).
    Message.objects.create(conversation=conv, role="assistant", content="", status="failed", reply_to=None)
    Message.objects.create(conversation=conv, role="assistant", content="answer", reply_to=first)
    Message.objects.create(conversation=conv, role="patient", content="unanswered trailing")
    services.transcript_approve(conversation=conv, clinician=clinician)

    (line,) = export_lines(tmp_path)
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
    assert line["messages"][2]["content"] == "answer"


def test_export_uses_only_redacted_text(tmp_path, clinician):
    patient = make_patient("p_redact")
    conv = make_transcript(patient, [("my email is zed@mailbox.example.com ok", "noted")])
    message = conv.messages.first()
    services.redactions_suggest(conversation=conv, actor=clinician)
    suggestion = Redaction.objects.get(message=message)
    services.redaction_accept(redaction=suggestion, clinician=clinician)
    services.transcript_approve(conversation=conv, clinician=clinician)

    (line,) = export_lines(tmp_path)
    assert line["messages"][1]["content"] == "my email is [EMAIL] ok"
    assert message.__class__.objects.get(pk=message.pk).content == "my email is zed@mailbox.example.com ok"


def test_stats_counts_without_writing_and_is_audited(tmp_path, clinician, capsys):
    patient = make_patient("p_stats")
    conv = make_transcript(patient, [("a", "b"), ("c", "d")])
    services.transcript_approve(conversation=conv, clinician=clinician)

    call_command("export_dataset", "--stats")

    out = capsys.readouterr().out
    assert "Exported 1 conversations, 4 messages." in out
    assert "Approved transcripts: 1; left out for a crisis flag: 0; left out for no training consent: 0" in out
    assert list(tmp_path.iterdir()) == []
    event = AuditEvent.objects.get(action="dataset.export")
    assert event.detail == {"examples": 1, "messages": 4, "file_name": ""}


def test_approved_after_counts_only_messages_approved_later(clinician):
    from django.utils import timezone

    patient = make_patient("p_after")
    conv = make_transcript(patient, [("a", "b")])
    services.transcript_approve(conversation=conv, clinician=clinician)
    cut = timezone.now()
    p = Message.objects.create(conversation=conv, role="patient", content="c")
    Message.objects.create(conversation=conv, role="assistant", content="d", reply_to=p)
    services.transcript_approve(conversation=conv, clinician=clinician)

    assert training_set.training_message_count() == 4
    assert training_set.training_message_count(approved_after=cut) == 2


def test_a_safety_flag_alone_keeps_a_transcript_out_until_included(tmp_path, clinician):
    from conversations.safety.models import SafetyFlag

    conv = make_transcript(make_patient("p_flag"), [("hard day", "I'm here")])
    SafetyFlag.objects.create(conversation=conv, level="crisis", reason="reviewed by screen")
    services.transcript_approve(conversation=conv, clinician=clinician)
    assert export_lines(tmp_path) == []
    assert selectors.transcript_queue().get(pk=conv.pk).flag_rank == 2

    services.transcript_crisis_include(conversation=conv, clinician=clinician, include=True, reason="safe to use")
    assert [line["conversation_id"] for line in export_lines(tmp_path)] == [conv.pk]
