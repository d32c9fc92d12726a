"""Review state: approval watermark, approving twice, erased conversations, concurrency."""

import threading

import pytest
from django.db import connection

from clinicians import services
from clinicians.models import ApprovalRange, Review
from clinicians.signals import transcript_approved
from conversations.models import Message
from devtools.factories import make_patient, make_transcript
from therapist_ai.models import AuditEvent


@pytest.mark.django_db
def test_approving_twice_is_a_clear_error_and_changes_nothing(clinician):
    conv = make_transcript(make_patient("rv_twice"), [("a", "b")])
    services.transcript_approve(conversation=conv, clinician=clinician)

    with pytest.raises(services.ReviewConflict, match=r"already approved \(by clinician_cora"):
        services.transcript_approve(conversation=conv, clinician=clinician)
    assert ApprovalRange.objects.count() == 1
    assert AuditEvent.objects.filter(action="review.approve").count() == 1


@pytest.mark.django_db
def test_rejecting_needs_a_reason_and_clears_the_approval(clinician):
    conv = make_transcript(make_patient("rv_rej"), [("a", "b")])
    services.transcript_approve(conversation=conv, clinician=clinician)
    with pytest.raises(services.ReviewConflict, match="needs a reason"):
        services.transcript_reject(conversation=conv, clinician=clinician, reason="  ")

    review = services.transcript_reject(conversation=conv, clinician=clinician, reason="identifying story")

    assert (review.status, review.approved_through_message_id, review.reason) == ("rejected", None, "identifying story")
    assert not ApprovalRange.objects.exists()
    with pytest.raises(services.ReviewConflict, match="already rejected"):
        services.transcript_reject(conversation=conv, clinician=clinician, reason="again")


@pytest.mark.django_db
def test_empty_conversation_cannot_be_approved(clinician):
    conv = make_transcript(make_patient("rv_empty"), [])
    with pytest.raises(services.ReviewConflict, match="no messages"):
        services.transcript_approve(conversation=conv, clinician=clinician)


@pytest.mark.django_db(transaction=True)
def test_approval_signal_is_sent_after_commit_with_new_message_count(clinician):
    received = []

    def listener(sender, **kwargs):
        received.append(kwargs)

    transcript_approved.connect(listener)
    try:
        conv = make_transcript(make_patient("rv_sig"), [("a", "b")])
        services.transcript_approve(conversation=conv, clinician=clinician)
        p = Message.objects.create(conversation=conv, role="patient", content="c")
        Message.objects.create(conversation=conv, role="assistant", content="d", reply_to=p)
        services.transcript_approve(conversation=conv, clinician=clinician)
    finally:
        transcript_approved.disconnect(listener)
    assert [(r["conversation_id"], r["message_count"]) for r in received] == [(conv.pk, 2), (conv.pk, 2)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_make_one_review_and_one_clear_error(clinician):
    conv = make_transcript(make_patient("rv_race"), [("hello there", "hi"), ("more words", "ok")])
    barrier = threading.Barrier(2)
    outcomes = []

    def approve():
        try:
            barrier.wait()
            services.transcript_approve(conversation=conv, clinician=clinician)
            outcomes.append("approved")
        except services.ReviewConflict as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(outcomes, key=len)[0] == "approved"
    assert "already approved" in sorted(outcomes, key=len)[1]
    assert Review.objects.filter(conversation=conv).count() == 1
    assert ApprovalRange.objects.filter(conversation=conv).count() == 1
    assert AuditEvent.objects.filter(action="review.approve", target_id=str(conv.pk)).count() == 1


@pytest.mark.django_db
def test_approving_new_messages_scans_only_the_new_part(clinician):
    conv = make_transcript(make_patient("rv_newpart"), [("reach me at old@home.example.com", "ok")])
    services.transcript_approve(conversation=conv, clinician=clinician, override_reason="shared on purpose")
    p = Message.objects.create(conversation=conv, role="patient", content="new mail new@home.example.com")
    Message.objects.create(conversation=conv, role="assistant", content="noted", reply_to=p)

    with pytest.raises(services.FinalScanFailed) as refused:
        services.transcript_approve(conversation=conv, clinician=clinician)

    assert [f.message_id for f in refused.value.findings] == [p.pk]
    assert "new@home.example.com" in str(refused.value)
