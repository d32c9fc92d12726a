"""Erasure: the account and everything about it go; a content-free record stays."""

import pytest
from django.contrib.auth.models import User
from django_q.models import OrmQ
from django_q.tasks import async_task

from clinicians import services
from clinicians.models import ApprovalRange, MessageExclusion, Redaction, Review
from conversations.accounts.erasure_keys import subject_hashes
from conversations.accounts.services import patient_erase
from conversations.accounts.signals import patient_erased
from conversations.models import Conversation, ErasureRecord, Message, PatientProfile
from devtools.factories import make_patient, make_transcript


def summarise_conversation(conversation_id):
    """A task about one conversation (stands in for any id-carrying task)."""
    return conversation_id


def notify(message_id=None, user_id=None):
    return message_id, user_id


@pytest.mark.django_db
def test_erasure_deletes_everything_about_the_patient_and_keeps_a_content_free_record(clinician):
    patient = make_patient("er_pat", first_name="Cornelius")
    other = make_patient("er_other")
    conv = make_transcript(patient, [("Cornelius, cornelius@home.example.com", "hi"), ("more", "ok")])
    kept = make_transcript(other, [("other words", "reply")])
    services.redactions_suggest(conversation=conv, actor=clinician)
    services.message_exclude(message=conv.messages.get(content="more"), clinician=clinician)
    services.transcript_approve(conversation=conv, clinician=clinician, override_reason="x")
    message_ids = sorted(conv.messages.values_list("id", flat=True))
    async_task("clinicians.tests.test_erasure.summarise_conversation", conv.pk)
    async_task("clinicians.tests.test_erasure.notify", message_id=message_ids[0])
    async_task("clinicians.tests.test_erasure.notify", user_id=patient.pk)
    async_task("clinicians.tests.test_erasure.summarise_conversation", kept.pk)
    assert OrmQ.objects.count() == 4

    record = patient_erase(user=patient, actor=patient)

    assert not User.objects.filter(pk=patient.pk).exists()
    assert not PatientProfile.objects.filter(user_id=patient.pk).exists()
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert not Message.objects.filter(pk__in=message_ids).exists()
    for model in (Review, Redaction, MessageExclusion, ApprovalRange):
        assert not model.objects.filter(conversation_id=conv.pk).exists()
    remaining = [q.task["args"] for q in OrmQ.objects.all()]
    assert remaining == [(kept.pk,)]
    assert (record.conversation_ids, sorted(record.message_ids)) == ([conv.pk], message_ids)
    assert (record.conversation_count, record.message_count, record.queued_tasks_removed) == (1, 4, 3)
    assert record.subject_hash in subject_hashes(patient.pk) and str(patient.pk) != record.subject_hash
    assert Conversation.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_patient_erased_signal_is_sent_on_commit(clinician):
    received = []

    def listener(sender, **kwargs):
        received.append(kwargs)

    patient = make_patient("er_sig")
    conv = make_transcript(patient, [("a", "b")])
    message_ids = list(conv.messages.values_list("id", flat=True))
    patient_erased.connect(listener)
    try:
        record = patient_erase(user=patient, actor=patient)
    finally:
        patient_erased.disconnect(listener)
    assert received == [{"signal": patient_erased, "erasure_record_id": record.pk, "conversation_ids": [conv.pk],
                         "message_ids": message_ids}]
    assert ErasureRecord.objects.get().requested_by_self is True


@pytest.mark.django_db
def test_erasure_removes_tasks_queued_in_redis(settings, clinician):
    import uuid

    import redis
    from django_q.signing import SignedPackage

    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    connection = redis.Redis.from_url(settings.REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    key = f"django_q:erasure-test-{uuid.uuid4().hex}:q"
    patient, other = make_patient("er_redis"), make_patient("er_redis_other")
    mine, theirs = make_transcript(patient, [("a", "b")]), make_transcript(other, [("c", "d")])
    for conversation_id in (mine.pk, theirs.pk):
        connection.rpush(key, SignedPackage.dumps({
            "id": uuid.uuid4().hex, "func": "clinicians.tests.test_erasure.summarise_conversation",
            "args": (conversation_id,), "kwargs": {}}))
    try:
        record = patient_erase(user=patient, actor=patient)
        left = [SignedPackage.loads(raw)["args"] for raw in connection.lrange(key, 0, -1)]
    finally:
        connection.delete(key)
    assert left == [(theirs.pk,)]
    assert record.queued_tasks_removed == 1


@pytest.mark.django_db
def test_erasure_records_survive_a_secret_key_rotation_and_an_erasure_key_rotation(settings):
    from conversations.accounts.selectors import erasure_records_of

    settings.ERASURE_KEYS = ["first-erasure-key-" + "x" * 30]
    patient = make_patient("rotating")
    user_id = patient.pk
    record = patient_erase(user=patient, actor=patient)
    assert record.key_id != "secret-key"

    settings.SECRET_KEY = "a-rotated-secret-key-" + "y" * 40  # Django's key rotates: the link holds
    assert list(erasure_records_of(user_id)) == [record]
    settings.ERASURE_KEYS = ["second-erasure-key-" + "z" * 30, *settings.ERASURE_KEYS]  # new key first
    assert list(erasure_records_of(user_id)) == [record]
    assert erasure_records_of(user_id + 1000).count() == 0
    settings.ERASURE_KEYS = settings.ERASURE_KEYS[:1]  # the old key dropped: that link is gone, as intended
    assert erasure_records_of(user_id).count() == 0


def test_check_deploy_warns_when_erasure_records_are_keyed_on_the_secret_key(settings):
    from conversations.accounts.erasure_keys import erasure_keys_check

    settings.ERASURE_KEYS = []
    assert [w.id for w in erasure_keys_check(None)] == ["accounts.W001"]
    settings.ERASURE_KEYS = ["k" * 40]
    assert erasure_keys_check(None) == []
