"""Staff-only admin pages and API for training runs and model versions; clinicians and patients see nothing."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from training import storage
from training.models import DatasetSnapshot, ModelVersion, TrainingRun

pytestmark = pytest.mark.django_db

RUNS = "/admin/training/trainingrun/"
VERSIONS = "/admin/training/modelversion/"
TRAIN_NOW = "/admin/training/trainingrun/train-now/"


@pytest.fixture
def version(settings, tmp_path):
    """A finished run and its published version (real files and manifest, no training needed)."""
    settings.MODEL_STORAGE_DIR = tmp_path
    snapshot = DatasetSnapshot.objects.create(
        content_hash="ab" * 32, example_count=2, train_count=1, eval_count=1, message_count=6,
        examples=[{"conversation_id": 41, "message_ids": [1, 2, 3, 4], "redaction_hash": "c" * 64, "split": "train"},
                  {"conversation_id": 42, "message_ids": [5, 6], "redaction_hash": "d" * 64, "split": "eval"}],
    )
    run = TrainingRun.objects.create(
        trigger="auto", status="succeeded", snapshot=snapshot, progress_step=6, progress_total=6,
        loss_history=[{"step": 1, "loss": 5.1}, {"step": 3, "loss": 4.2}, {"step": 6, "loss": 3.3}],
        tokens_per_second=1234.5,
    )
    staging = storage.staging_dir_create(tmp_path, run_id=run.pk)
    (staging / "adapter_model.safetensors").write_bytes(b"weights")
    storage.manifest_write(staging, description={"base_model": "tiny"})
    path = storage.version_publish(staging, storage_dir=tmp_path, name="model_20261125_010203")
    return ModelVersion.objects.create(
        name=path.name, path=str(path), base_model="tiny", run=run, snapshot=snapshot,
        metrics={"eval_loss": 3.3, "eval_perplexity": 27.1, "base_eval_loss": 5.0, "base_eval_perplexity": 148.4},
        manifest_sha256=storage.manifest_sha256(path),
    )


# ----------------------------------------------------------------------------- admin


def test_anonymous_visitors_and_patients_are_sent_to_the_admin_login(client, patient):
    assert client.get(RUNS).status_code == 302
    client.force_login(patient)
    response = client.get(RUNS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_clinicians_see_versions_to_sign_off_but_not_training_runs_or_train_now(client, clinician, version):
    client.force_login(clinician)
    assert client.get(RUNS).status_code == 403
    assert client.get(VERSIONS).status_code == 200  # to read the evidence and sign versions off
    assert client.post(TRAIN_NOW).status_code == 403
    assert not TrainingRun.objects.filter(trigger="manual").exists()
    assert "Training runs" not in client.get("/admin/").content.decode()


def test_staff_see_runs_with_progress_throughput_and_a_train_now_button(client, staff_user, version):
    client.force_login(staff_user)
    page = client.get(RUNS).content.decode()
    assert "Train now" in page and "Succeeded" in page and "6/6" in page and "1,234" in page
    assert "toward the next automatic run" in page


def test_a_run_page_shows_the_loss_curve_and_the_error_of_a_failed_run(client, staff_user, version):
    failed = TrainingRun.objects.create(trigger="manual", status="failed", error="disk full while writing")
    client.force_login(staff_user)
    page = client.get(reverse("admin:training_trainingrun_change", args=[version.run.pk])).content.decode()
    assert "<svg" in page and "Training loss from 5.100 to 3.300" in page and version.name in page
    page = client.get(reverse("admin:training_trainingrun_change", args=[failed.pk])).content.decode()
    assert "disk full while writing" in page
    assert "<script>" not in page  # live refresh comes from static/training/live.js (CSP)


def test_staff_train_now_queues_one_run_and_a_second_click_says_one_is_active(client, staff_user):
    client.force_login(staff_user)
    response = client.post(TRAIN_NOW, follow=True)
    run = TrainingRun.objects.get()
    assert (run.trigger, run.requested_by, run.status) == ("manual", staff_user, "queued")
    assert f"Training run {run.pk} queued" in response.content.decode()
    response = client.post(TRAIN_NOW, follow=True)
    assert f"Training run {run.pk} is already queued" in response.content.decode()
    assert TrainingRun.objects.count() == 1


def test_train_now_only_answers_post(client, staff_user):
    client.force_login(staff_user)
    assert client.get(TRAIN_NOW).status_code == 405
    assert not TrainingRun.objects.exists()


def test_staff_see_versions_with_metrics_and_the_exact_conversations_they_were_trained_on(
        client, staff_user, version):
    client.force_login(staff_user)
    listing = client.get(VERSIONS).content.decode()
    assert version.name in listing and "3.3" in listing and "148.4" in listing
    detail = client.get(reverse("admin:training_modelversion_change", args=[version.pk])).content.decode()
    assert "conversation 41" in detail and "conversation 42" in detail and "1, 2, 3, 4" in detail


def test_a_tampered_version_fails_the_check_action_and_is_no_longer_ready(client, staff_user, version):
    (storage.Path(version.path) / "adapter_model.safetensors").write_bytes(b"other weights")
    client.force_login(staff_user)
    assert "not checked yet" in client.get(VERSIONS).content.decode()  # listing reads no model file
    version.refresh_from_db()
    assert version.status == "ready"
    client.post(VERSIONS, {"action": "verify_files", "_selected_action": [version.pk]})
    listing = client.get(VERSIONS).content.decode()
    assert "does not match its sha256" in listing
    version.refresh_from_db()
    assert version.status == "failed"


# ----------------------------------------------------------------------------- API


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize("url, clinician_status", [("/api/v1/training-runs/", 403), ("/api/v1/model-versions/", 200)])
def test_the_training_api_refuses_anonymous_and_patients_and_clinicians_only_read_versions(
        url, clinician_status, patient, clinician, version):
    assert api().get(url).status_code == 401
    assert api(patient).get(url).status_code == 403
    assert api(clinician).get(url).status_code == clinician_status
    assert api(clinician).post("/api/v1/training-runs/").status_code == 403
    assert not TrainingRun.objects.filter(trigger="manual").exists()


def test_staff_list_and_read_runs_through_the_api(staff_user, version):
    body = api(staff_user).get("/api/v1/training-runs/").json()
    assert body["count"] == 1
    run = body["results"][0]
    assert run["status"] == "succeeded" and run["model_version"] == version.pk and run["progress_percent"] == 100
    detail = api(staff_user).get(f"/api/v1/training-runs/{version.run.pk}/").json()
    assert detail["loss_history"][-1] == {"step": 6, "loss": 3.3}
    assert detail["snapshot"]["example_count"] == 2


def test_staff_post_starts_a_run_and_a_second_post_is_a_conflict(staff_user):
    created = api(staff_user).post("/api/v1/training-runs/")
    assert created.status_code == 201 and created.json()["status"] == "queued"
    conflict = api(staff_user).post("/api/v1/training-runs/")
    assert conflict.status_code == 409 and conflict.json()["active_run"] == created.json()["id"]


def test_staff_read_versions_with_metrics_and_lineage_through_the_api(staff_user, version):
    listing = api(staff_user).get("/api/v1/model-versions/").json()["results"]
    assert [(v["name"], v["status"], v["files_verified"]) for v in listing] == [(version.name, "ready", None)]
    api(staff_user).post(f"/api/v1/model-versions/{version.pk}/verify/")
    listing = api(staff_user).get("/api/v1/model-versions/").json()["results"]
    assert [(v["name"], v["status"], v["files_verified"]) for v in listing] == [(version.name, "ready", True)]
    assert listing[0]["metrics"]["base_eval_perplexity"] == 148.4
    detail = api(staff_user).get(f"/api/v1/model-versions/{version.pk}/").json()
    assert [e["conversation_id"] for e in detail["lineage"]] == [41, 42]


def test_a_version_with_a_missing_file_fails_its_check_and_reading_it_changes_nothing(staff_user, version):
    (storage.Path(version.path) / "adapter_model.safetensors").unlink()
    detail = api(staff_user).get(f"/api/v1/model-versions/{version.pk}/").json()
    assert detail["files_verified"] is None and detail["status"] == "ready"  # a read never writes
    checked = api(staff_user).post(f"/api/v1/model-versions/{version.pk}/verify/").json()
    assert checked["files_verified"] is False and checked["status"] == "failed"
    assert "missing" in checked["verification_error"] and "not ready" in checked["serving_refusal"]


def test_unknown_ids_are_404_for_staff(staff_user):
    assert api(staff_user).get("/api/v1/model-versions/999/").status_code == 404
    assert api(staff_user).get("/api/v1/training-runs/999/").status_code == 404


def test_listing_a_hundred_versions_reads_no_model_file_and_changes_nothing(client, staff_user, version, monkeypatch):
    for i in range(99):
        ModelVersion.objects.create(name=f"model_2026112{i // 10}_{i:06d}", path=f"/nonexistent/{i}", base_model="tiny",
                                    run=TrainingRun.objects.create(trigger="auto", status="succeeded",
                                                                   snapshot=version.snapshot),
                                    snapshot=version.snapshot, metrics=version.metrics,
                                    manifest_sha256="0" * 64)

    def no_reading(*args, **kwargs):
        raise AssertionError("a listing read a model file")

    for name in ("file_sha256", "manifest_verify", "manifest_read", "manifest_sha256", "versions_on_disk"):
        monkeypatch.setattr(storage, name, no_reading)
    client.force_login(staff_user)
    page = client.get(VERSIONS + "?all=")
    assert page.status_code == 200 and "100 model versions" in page.content.decode()
    listing = api(staff_user).get("/api/v1/model-versions/?page_size=100")
    assert listing.status_code == 200 and listing.json()["count"] == 100
    assert set(ModelVersion.objects.values_list("status", flat=True)) == {"ready"}  # no read changed a status
