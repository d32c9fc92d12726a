"""End to end through real django-q2 clusters running as separate processes.

The test process plays the web server (clinicians approving transcripts); ``manage.py
qcluster`` subprocesses with ``Q_CLUSTER_NAME=training`` are the training worker. The test
database is shared through ``DATABASE_URL`` (transactional tests, so the worker sees commits).
"""

import subprocess
import sys
import time

import pytest
from django_q.models import OrmQ

from devtools.factories import make_patient, make_transcript
from devtools.servers import QCluster
from training import services, storage
from training.models import ModelVersion, TrainingRun
from training.tests.conftest import EXCHANGES, approved_transcripts, subprocess_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def finished(run_id):
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed") else None


def test_approvals_up_to_the_threshold_start_exactly_one_run_that_the_worker_turns_into_a_ready_version(
        train_settings, clinician, tmp_path):
    train_settings.AUTO_TRAIN_THRESHOLD = 12
    with QCluster(subprocess_env(train_settings), tmp_path / "training-cluster.log", cluster="training") as cluster:
        train_settings.ENABLE_AUTO_TRAINING = True
        approved_transcripts(2, clinician=clinician)  # 8 of 12: below the threshold
        assert not TrainingRun.objects.exists() and not OrmQ.objects.exists()

        train_settings.ENABLE_AUTO_TRAINING = False
        approved_transcripts(1, clinician=clinician, start=2)  # 12 of 12, but auto training is off
        assert not TrainingRun.objects.exists() and not OrmQ.objects.exists()

        train_settings.ENABLE_AUTO_TRAINING = True
        approved_transcripts(2, clinician=clinician, start=3)  # 16, then 20: one run only
        run = TrainingRun.objects.get()
        assert (run.trigger, run.pending_messages) == ("auto", 16)

        run = wait_for(lambda: finished(run.pk), timeout=240, what="the training run to finish")
        assert run.status == "succeeded", run.error + cluster.output()[-3000:]
        log = cluster.output()
        assert "Training complete! (" in log and "Model saved to: " in log

    assert TrainingRun.objects.count() == 1
    version = ModelVersion.objects.get()
    assert version.status == "ready" and version.run_id == run.pk
    assert storage.manifest_verify(version.path) == (True, "")
    assert version.snapshot.example_count == 5
    assert run.attempts == 1 and run.progress_step == run.progress_total > 0


def test_a_worker_killed_mid_run_leaves_a_failed_run_no_version_no_temp_files_and_the_next_run_works(
        train_settings, clinician, staff_user, tmp_path):
    approved_transcripts(4, clinician=clinician)
    slow = subprocess_env(train_settings, TRAIN_MAX_STEPS=100000)
    with QCluster(slow, tmp_path / "killed-cluster.log", cluster="training") as cluster:
        run = services.training_run_now(requested_by=staff_user)
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).progress_step > 0, timeout=180,
                 what="the run to make progress")
        staging = list(train_settings.MODEL_STORAGE_DIR.glob(f".tmp-run{run.pk}-*"))
        assert staging, "the run should be writing into a staging directory"
        cluster.kill()  # SIGKILL to the whole process group: sentinel, worker, everything

    time.sleep(train_settings.TRAIN_HEARTBEAT_TIMEOUT + 0.5)
    assert TrainingRun.objects.get(pk=run.pk).status == "running"  # nobody knows yet...
    assert services.training_runs_reap() == [run.pk]  # ...until the reaper's periodic check
    run.refresh_from_db()
    assert run.status == "failed" and "stopped responding" in run.error
    assert not ModelVersion.objects.exists()
    assert not any(p.exists() for p in staging)
    assert list(train_settings.MODEL_STORAGE_DIR.iterdir()) == []

    with QCluster(subprocess_env(train_settings), tmp_path / "fresh-cluster.log", cluster="training") as cluster:
        second = services.training_run_now(requested_by=staff_user)
        second = wait_for(lambda: finished(second.pk), timeout=240, what="the second run to finish")
        assert second.status == "succeeded", second.error + cluster.output()[-3000:]
    assert ModelVersion.objects.get().run_id == second.pk


APPROVE_AT = """
import os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")
django.setup()
from django.contrib.auth.models import User
from clinicians.services import transcript_approve
from conversations.models import Conversation
conversation = Conversation.objects.get(pk=int(sys.argv[1]))
clinician = User.objects.get(pk=int(sys.argv[2]))
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
transcript_approve(conversation=conversation, clinician=clinician)
"""


def test_two_processes_crossing_the_threshold_at_the_same_moment_start_one_run(train_settings, clinician):
    from devtools.servers import ROOT as REPO

    train_settings.AUTO_TRAIN_THRESHOLD = 4  # each approval alone crosses it
    patient = make_patient("racing_patient", consent=True)
    conversations = [make_transcript(patient, EXCHANGES[:2]) for _ in range(2)]
    env = subprocess_env(train_settings, ENABLE_AUTO_TRAINING=1, AUTO_TRAIN_THRESHOLD=4)
    start = time.time() + 4  # both processes are set up by then and approve together
    procs = [
        subprocess.Popen([sys.executable, "-c", APPROVE_AT, str(c.pk), str(clinician.pk), str(start)],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for c in conversations
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    run = TrainingRun.objects.get()
    assert run.trigger == "auto" and run.status == "queued"
    assert OrmQ.objects.filter(key="training").count() == 1
    assert sum("Auto-triggering training" in out for out in outputs) == 1
