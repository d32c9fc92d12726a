"""/healthz, /readyz and the worker heartbeat, with a real django-q2 cluster process."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from devtools.servers import ROOT, QCluster, process_env
from therapist_ai.health import heartbeat_record, heartbeat_schedule_ensure
from therapist_ai.models import WorkerHeartbeat


def test_healthz_answers_without_login_or_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_before_any_worker_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["error"] == "no heartbeat yet"


@pytest.mark.django_db
def test_readyz_is_200_with_a_recent_heartbeat_and_503_when_it_goes_stale(client, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE = 60
    heartbeat_record(source="schedule")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["checks"]["worker"]["ok"] is True

    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=61))
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json()["checks"]["worker"]["age_s"] >= 61


@pytest.mark.django_db
def test_training_cluster_heartbeat_does_not_make_the_chat_worker_ready(client):
    WorkerHeartbeat.objects.create(cluster="training", beat_at=timezone.now(), source="spawn")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["error"] == "no heartbeat yet"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/readyz'); print(r.status_code, r.content.decode())\n"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere", "DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "therapist_ai.settings", "DB_POOL_TIMEOUT": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("503 ")
    assert '"database": {"ok": false' in done.stdout


def _wait_ready(client, *, source: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        body = response.json()
        beat = WorkerHeartbeat.objects.filter(cluster="therapist_ai").first()
        if response.status_code == 200 and beat is not None and beat.source == source:
            return body
        time.sleep(0.5)
    raise AssertionError(f"no {source} heartbeat within {timeout} s; last /readyz: {body}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_real_worker_cluster_makes_readyz_ready_and_keeps_it_fresh(client, broker, tmp_path):
    heartbeat_schedule_ensure()
    assert client.get("/readyz").status_code == 503
    overrides = {"Q_WORKERS": "1"}
    if broker == "redis":
        # A database number of our own, so parallel test runs never share a queue.
        overrides["REDIS_URL"] = f"redis://127.0.0.1:6379/{1 + os.getpid() % 15}"
    with QCluster(process_env(**overrides), tmp_path / "qcluster.log") as cluster:
        _wait_ready(client, source="spawn", timeout=60)
        # The schedule proves queued work is picked up: the scheduler runs every ~30 s.
        body = _wait_ready(client, source="schedule", timeout=75)
        assert cluster.poll() is None
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["worker"]["age_s"] < 60
