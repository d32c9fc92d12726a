"""Fault drill: the model storage volume fills up during a training run (a real 64 KB tmpfs).
The run fails cleanly with the reason, nothing half-written stays, and serving is unchanged."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def small_volume(tmp_path):
    mount = tmp_path / "volume"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"this drill mounts a 64 KB tmpfs (root needed): {done.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.django_db(transaction=True)
def test_a_full_model_volume_fails_the_run_cleanly_and_serving_is_unchanged(
        served, train_settings, small_volume, version_a, clinician, staff_user, patient):
    from conversations.services.chat import conversation_create, message_send
    from training import services as runs
    from training.models import ModelVersion, TrainingRun
    from training.serving import services as serving
    from training.tests.conftest import approved_transcripts

    serving.model_version_sign_off(version=version_a, clinician=clinician)
    serving.model_version_promote(version=version_a, actor=staff_user)
    train_settings.MODEL_STORAGE_DIR = small_volume
    approved_transcripts(4, clinician=clinician)

    run = runs.training_run_request(trigger="manual", enqueue=False)
    assert runs.training_run_execute(run_id=run.pk) is None

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "disk full" in run.error
    assert list(small_volume.iterdir()) == []  # nothing half-written left behind
    assert ModelVersion.objects.count() == 1
    reply = message_send(conversation=conversation_create(patient=patient), content="Hello").reply
    assert (reply.provider, reply.model_name) == ("local", version_a.name)
