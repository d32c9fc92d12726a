"""Serving model versions to patients, end to end: the real inference server (tiny base model,
adapters trained by the real pipeline, published by the real storage code), the real chat flow,
the fake Groq upstream behind them.

Promotion needs sign-offs and a version that loads; rollback, retirement, erasure and the
automatic revert move serving to the previous clean version or to Groq; a failing local model
falls back to Groq for that reply; shadow replies are stored and rated, never shown.
"""

from __future__ import annotations

import shutil

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from conversations.models import Message
from conversations.services.chat import conversation_create, message_send
from conversations.services.streaming import message_stream
from devtools.factories import make_model_version, make_patient
from devtools.servers import free_port
from training import storage
from training.models import ServingChange, ServingState, ShadowReply
from training.serving import services as serving
from training.serving.state import serving_state_get
from training.tests.conftest import REPLIES, served_version

# The first test also trains the two adapters (session fixtures): minutes on a busy machine.
pytestmark = pytest.mark.timeout(900)


def _signed(version, clinician):
    serving.model_version_sign_off(version=version, clinician=clinician, note="read the evaluation")
    return version


def _reply(patient, text="I feel lonely."):
    return message_send(conversation=conversation_create(patient=patient), content=text).reply


def test_learning_mode_until_a_signed_off_version_is_promoted(served, version_a, patient, clinician, staff_user):
    assert serving_state_get().mode == "hosted" and _reply(patient).provider == "groq"
    with pytest.raises(serving.ServingError, match="0 of the 1 clinician sign-offs"):
        serving.model_version_promote(version=version_a, actor=staff_user)
    _signed(version_a, clinician)
    serving.model_version_promote(version=version_a, actor=staff_user, reason="better on the evaluation set")

    reply = _reply(patient)
    assert (reply.provider, reply.model_name) == ("local", version_a.name)
    assert reply.content.startswith(REPLIES["a"]) and reply.fallback_reason == ""
    change = ServingChange.objects.get()
    assert (change.action, change.to_version, change.actor_label, change.reason) == (
        "promote", version_a.name, staff_user.username, "better on the evaluation set")


def test_streamed_replies_come_from_the_promoted_version(served, version_a, patient, clinician, staff_user):
    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    conversation = conversation_create(patient=patient)

    async def collect():
        return [event async for event in message_stream(conversation=conversation, content="I can't sleep.")]

    events = async_to_sync(collect)()
    text = "".join(e.data["text"] for e in events if e.type == "delta")
    done = events[-1].data
    assert text.startswith(REPLIES["a"]) and (done["provider"], done["model"]) == ("local", version_a.name)


def test_rollback_goes_to_the_previous_version_then_to_groq(served, version_a, version_b, patient, clinician,
                                                            staff_user):
    for version in (version_a, version_b):
        serving.model_version_promote(version=_signed(version, clinician), actor=staff_user)
    assert _reply(patient).content.startswith(REPLIES["b"])

    serving.serving_rollback(actor=staff_user, reason="B sounds cold")
    reply = _reply(patient)
    assert (reply.model_name, reply.content[: len(REPLIES["a"])]) == (version_a.name, REPLIES["a"])

    serving.serving_rollback(actor=staff_user)  # B was rolled back from: never chosen again
    assert serving_state_get().mode == "hosted" and _reply(patient).provider == "groq"
    assert [c.action for c in ServingChange.objects.order_by("id")] == ["promote", "promote", "rollback", "rollback"]
    with pytest.raises(serving.ServingError, match="nothing to roll back"):
        serving.serving_rollback(actor=staff_user)


def test_a_version_with_a_corrupted_file_or_manifest_is_refused_and_never_serves(
        served, version_a, version_b, adapters, patient, clinician, staff_user, tmp_path):
    broken = tmp_path / "model_20260301_000009"
    shutil.copytree(adapters[1]["a"], broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not the weights")
    tampered = make_model_version(broken, base_model=version_a.base_model)
    _signed(tampered, clinician)
    with pytest.raises(serving.ServingError, match="does not match its sha256"):
        serving.model_version_promote(version=tampered, actor=staff_user)
    tampered.refresh_from_db()
    assert tampered.status == "failed" and "sha256" in tampered.verification_error

    unreadable = tmp_path / "model_20260301_000010"
    shutil.copytree(adapters[1]["b"], unreadable)
    manifest_ok = make_model_version(unreadable, base_model=version_a.base_model)
    (unreadable / storage.MANIFEST).write_text("{not json", encoding="utf-8")
    _signed(manifest_ok, clinician)
    with pytest.raises(serving.ServingError, match="manifest"):
        serving.model_version_promote(version=manifest_ok, actor=staff_user)
    assert serving_state_get().mode == "hosted" and _reply(patient).provider == "groq"


def test_a_version_the_inference_server_cannot_load_is_refused(served, settings, version_a, clinician, staff_user):
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens
    with pytest.raises(serving.ServingError, match="could not be reached"):
        serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    assert serving_state_get().active_version is None


def test_a_local_failure_falls_back_to_groq_and_the_failure_rate_reverts_serving(
        served, settings, version_a, patient, clinician, staff_user, caplog, django_capture_on_commit_callbacks):
    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port()}/v1"  # the inference server is gone
    settings.SERVING_REVERT_MIN_REQUESTS, settings.SERVING_REVERT_MAX_RATE = 3, 0.5

    replies = []
    for i in range(3):
        assert serving_state_get().mode == "local"
        with django_capture_on_commit_callbacks(execute=True):
            replies.append(_reply(patient, ["I had a long day.", "Work was busy.", "I slept badly."][i]))
    assert [(r.provider, r.status) for r in replies] == [("groq", "ok")] * 3, [r.failure_reason for r in replies]
    assert all("could not be reached" in r.fallback_reason for r in replies), [r.fallback_reason for r in replies]
    state = serving_state_get()
    assert state.mode == "hosted" and "reverted to hosted by itself" in state.alert
    assert ServingChange.objects.filter(action="auto_revert").count() == 1
    assert "Serving reverted to hosted automatically" in caplog.text
    assert Message.objects.filter(role="patient").count() == 3  # every message kept, answered once
    assert Message.objects.filter(role="assistant").count() == 3


def test_an_erasure_takes_a_version_trained_on_that_patient_out_of_serving(
        served, adapters, tiny_base_model, version_a, clinician, staff_user, django_capture_on_commit_callbacks):
    from conversations.accounts.services import patient_erase

    erased = make_patient("leaving_patient")
    conversation = conversation_create(patient=erased)
    trained_on_them = served_version(adapters, "b", tiny_base_model, conversation_ids=[conversation.pk])
    for version in (version_a, trained_on_them):
        serving.model_version_promote(version=_signed(version, clinician), actor=staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        patient_erase(user=erased, actor=erased)

    trained_on_them.refresh_from_db()
    state = serving_state_get()
    assert trained_on_them.trained_on_erased_data
    assert (state.mode, state.active_version) == ("local", version_a) and "erased" in state.alert
    assert ServingChange.objects.filter(action="erasure", from_version=trained_on_them.name).exists()
    with pytest.raises(serving.ServingError, match="erased"):
        serving.model_version_promote(version=trained_on_them, actor=staff_user)


def test_retiring_the_active_version_goes_back_to_the_previous_one(served, version_a, version_b, clinician,
                                                                   staff_user):
    for version in (version_a, version_b):
        serving.model_version_promote(version=_signed(version, clinician), actor=staff_user)
    serving.model_version_retire(version=version_b, actor=staff_user, reason="too terse")
    assert serving_state_get().active_version == version_a
    with pytest.raises(serving.ServingError, match="retired"):
        serving.model_version_promote(version=version_b, actor=staff_user)


def test_shadow_replies_are_stored_and_rated_blind_but_never_shown(served, version_b, patient, clinician,
                                                                   staff_user, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    from training import tasks

    serving.serving_mode_set(mode="shadow", actor=staff_user, shadow_version=version_b, reason="collect pairs")
    api = APIClient()
    api.force_authenticate(patient)
    conversation = conversation_create(patient=patient)
    with django_capture_on_commit_callbacks(execute=True):
        turn = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "I feel lonely."},
                        format="json").json()
    assert turn["reply"]["provider"] == "groq"
    queued = [task for task in OrmQ.objects.all() if task.func() == "training.tasks.shadow_reply_generate"]
    assert len(queued) == 1
    tasks.shadow_reply_generate(*queued[0].args())

    shadow = ShadowReply.objects.get()
    assert shadow.content.startswith(REPLIES["b"]) and shadow.version == version_b
    page = api.get(f"/api/v1/conversations/{conversation.pk}/").content.decode()
    assert REPLIES["b"] not in page and REPLIES["b"] not in turn["reply"]["content"]

    rater = APIClient()
    rater.force_authenticate(clinician)
    pair = rater.get("/api/v1/shadow-pairs/").json()["results"][0]
    assert {pair["A"][: len(REPLIES["b"])], pair["B"][: len(REPLIES["b"])]} >= {REPLIES["b"]}
    candidate_side = "A" if pair["A"].startswith(REPLIES["b"]) else "B"
    revealed = rater.post(f"/api/v1/shadow-pairs/{pair['id']}/rate/", {"choice": candidate_side}, format="json")
    assert revealed.json() == {"preferred": "candidate", "candidate_was": candidate_side, "version": version_b.name}
    again = rater.post(f"/api/v1/shadow-pairs/{pair['id']}/rate/", {"choice": "A"}, format="json")
    assert again.status_code == 409 and rater.get("/api/v1/shadow-pairs/").json()["results"] == []


def test_every_change_is_audited_and_the_history_is_append_only(served, version_a, clinician, staff_user):
    from therapist_ai.models import AuditEvent

    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    serving.serving_mode_set(mode="hosted", actor=staff_user, reason="pause")
    assert list(ServingChange.objects.order_by("id").values_list("action", "from_mode", "to_mode")) == [
        ("promote", "hosted", "local"), ("mode", "local", "hosted")]
    assert set(AuditEvent.objects.filter(action__startswith="serving.").values_list("action", flat=True)) == {
        "serving.promote", "serving.mode"}
    assert ServingState.objects.count() == 1


def test_a_new_version_is_evaluated_side_by_side_with_the_active_version_and_groq(
        served, version_a, version_b, clinician, staff_user, client):
    from training import evaluation
    from training.models import EvalPrompt, EvalReply

    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    prompts = EvalPrompt.objects.filter(active=True).count()
    assert prompts >= 10  # the shipped set (training/data/eval_prompts.jsonl), seeded by a migration

    result = evaluation.version_evaluate(version_id=version_b.pk)

    assert result.status == "done" and result.active_version == version_a.name
    replies = EvalReply.objects.filter(evaluation=result)
    assert replies.count() == 3 * prompts
    # Each version answers what it was trained to (the tiny model may cut the sentence short).
    assert all(r.content.startswith(REPLIES["b"][:5]) for r in replies.filter(responder="candidate"))
    assert all(r.content.startswith(REPLIES["a"][:4]) for r in replies.filter(responder="active"))
    assert all(r.model_name == served.GROQ_MODEL and r.content for r in replies.filter(responder="hosted"))
    assert result.summary["candidate"]["replies"] == prompts and result.summary["candidate"]["unsafe"] == 0

    client.force_login(clinician)  # clinicians read the evidence before they sign off
    page = client.get(f"/admin/training/modelversion/{version_b.pk}/change/").content.decode()
    assert "Evaluation prompts, side by side" in page and REPLIES["b"][:5] in page and REPLIES["a"][:4] in page
    api = APIClient()
    api.force_authenticate(clinician)
    body = api.get(f"/api/v1/model-versions/{version_b.pk}/evaluation/").json()
    assert body["status"] == "done" and len(body["replies"]) == 3 * prompts


@pytest.mark.django_db(transaction=True)  # the run's heartbeat thread reads the committed run row
def test_a_training_run_measures_the_active_version_on_the_same_held_out_conversations(
        served, version_a, clinician, staff_user, train_settings):
    from training import services as runs
    from training.tests.conftest import approved_transcripts

    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    approved_transcripts(4, clinician=clinician)
    run = runs.training_run_request(trigger="manual", enqueue=False)
    version = runs.training_run_execute(run_id=run.pk)

    assert version.metrics["active_version"] == version_a.name
    assert version.metrics["active_eval_loss"] > 0 and version.metrics["active_eval_perplexity"] > 1
    assert version.metrics["eval_examples"] == version.snapshot.eval_count


def test_a_local_model_that_dies_mid_reply_is_replaced_by_a_groq_reply(served, settings, version_a, patient,
                                                                       clinician, staff_user):
    from conversations.providers.openai_compat import reset_clients
    from devtools.fake_groq import FakeGroq

    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user)
    conversation = conversation_create(patient=patient)
    with FakeGroq(tokens_per_second=400) as dying:  # speaks the same chunks, then cuts the connection
        dying.configure(fault="drop", drop_after_chunks=6,
                        reply="Hi. Yes. I am the local model and I stop in the middle of this sentence.")
        settings.INFERENCE_URL = dying.base_url.rstrip("/") + "/openai/v1"
        reset_clients()

        async def collect():
            return [event async for event in message_stream(conversation=conversation, content="I feel lonely.")]

        events = async_to_sync(collect)()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["patient", "delta"] and events[1].data["text"].startswith("Hi.")  # the local model's
    assert "replace" in kinds and kinds[-1] == "done"
    after = kinds.index("replace")
    assert events[after].data["text"] == ""  # what the local model had shown is taken back
    shown = "".join(e.data["text"] for e in events[after:] if e.type == "delta")
    reply = Message.objects.get(role="assistant")
    assert (reply.provider, reply.status) == ("groq", "ok") and reply.content == shown
    assert "dropped" in reply.fallback_reason and events[-1].data["provider"] == "groq"


def test_the_serving_page_shows_the_state_the_inference_server_and_the_history(served, client, version_a,
                                                                              clinician, staff_user):
    serving.model_version_promote(version=_signed(version_a, clinician), actor=staff_user, reason="first one")
    client.force_login(staff_user)
    page = client.get("/admin/training/servingstate/").content.decode()
    assert 'id="serving-mode">Local' in page and version_a.name in page and "first one" in page
    assert f"loaded {version_a.name}" in page  # the inference server's health, as staff see it
    response = client.post("/admin/training/servingstate/", {"action": "rollback", "reason": "drill"}, follow=True)
    assert "Rolled back" in response.content.decode() and serving_state_get().mode == "hosted"
    index = client.get("/admin/").content.decode()
    assert 'id="serving-panel"' in index and "Groq (hosted mode)" in index
