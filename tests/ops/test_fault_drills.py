"""Fault drills against real services: the broker (Redis) down while patients chat, PostgreSQL
restarting under a streamed reply (the storage volume filling up during a training run is in
training/tests/test_storage_full.py).

Each drill starts what it needs (its own Redis server, its own PostgreSQL database) and fails, never skips, when it cannot.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from devtools.servers import ROOT, free_port, patients_with_tokens, process_env, web_server
from devtools.smtp import smtp_sink

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


# --- Redis (the broker and the cache) down -------------------------------------------------


def _redis(port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() != b"PONG":
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not start on {port}: {log.read_text()[-500:]}")
        time.sleep(0.1)
    return proc


def _manage(env: dict, code: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def test_with_the_broker_down_chat_works_and_queued_jobs_run_once_it_is_back(
        transactional_db, fake_groq, tmp_path):
    with ExitStack() as stack:
        _broker_drill(stack, fake_groq, tmp_path)


def _broker_drill(stack, fake_groq, tmp_path):
    from conversations.safety.models import SafetyFlag
    from therapist_ai.models import TaskOutbox

    port = free_port()
    redis = _redis(port, tmp_path / "redis.log")
    mail = stack.enter_context(smtp_sink())
    env = process_env(REDIS_URL=f"redis://127.0.0.1:{port}/0", GROQ_BASE_URL=fake_groq.base_url,
                      GROQ_API_KEY="test-key", EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                      EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(mail.server_address[1]),
                      CLINICIAN_ALERT_EMAILS="oncall@example.org", Q_WORKERS="1")
    [(_patient, conversation, token)] = patients_with_tokens(1, prefix="broker")
    try:
        with web_server("uvicorn", env, tmp_path) as web:
            redis.terminate()
            redis.wait(10)
            post = lambda text: httpx.post(  # noqa: E731
                f"{web.base_url}/api/v1/conversations/{conversation.pk}/messages/", json={"content": text},
                headers={"Authorization": f"Token {token}"}, timeout=60)
            ordinary, crisis = post("I had a long day at work."), post("I am going to kill myself tonight")
        assert ordinary.status_code == 201 and ordinary.json()["reply"]["status"] == "ok"
        assert crisis.status_code == 201 and crisis.json()["reply"]["provider"] == "safety"
        flag = SafetyFlag.objects.get()
        waiting = TaskOutbox.objects.get()
        assert (waiting.func, waiting.args) == ("conversations.safety.tasks.flag_notify", [flag.pk])
        assert mail.received == []

        redis = _redis(port, tmp_path / "redis.log")  # the broker is back
        assert _manage(env, "from therapist_ai.queueing import outbox_flush; print(outbox_flush())").strip() == "1"
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                   stdout=open(tmp_path / "qcluster.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while not mail.received and time.monotonic() < deadline:
                time.sleep(0.3)
        finally:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait(10)
        assert mail.received and "oncall@example.org" in mail.received[0][0], (
            tmp_path / "qcluster.log").read_text()[-3000:]
        assert not TaskOutbox.objects.exists()
    finally:
        redis.terminate()
        redis.wait(10)


# --- PostgreSQL restarting under a streamed reply ------------------------------------------


def _psql(sql: str, db: str = "postgres") -> str:
    done = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"PostgreSQL at 127.0.0.1:5432 is needed for this drill: {done.stderr}"
    return done.stdout.strip()


def _sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        name = re.search(r"^event: (.+)$", block, re.M)
        data = re.search(r"^data: (.+)$", block, re.M)
        if name and data:
            events.append((name.group(1), json.loads(data.group(1))))
    return events


def test_postgresql_restarting_during_a_streamed_reply_keeps_the_message_and_tells_the_patient(
        fake_groq, tmp_path):
    database = f"drill_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {database}")
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}", "DEBUG": "1",
           "GROQ_BASE_URL": fake_groq.base_url, "GROQ_API_KEY": "test-key", "PYTHONUNBUFFERED": "1"}
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                       timeout=300)
        _manage(env, "from devtools.factories import make_patient; make_patient('drill_patient')")
        fake_groq.configure(first_token_delay=0.3, tokens_per_second=8,
                            reply="Thank you for telling me. That sounds hard. I am here with you. "
                                  "Would you like to say more about what happened today?")
        with web_server("uvicorn", env, tmp_path) as web, httpx.Client(base_url=web.base_url, timeout=60) as client:
            client.get("/accounts/login/")
            client.post("/accounts/login/", data={"username": "drill_patient", "password": "Calm-harbour-2718",
                                                  "csrfmiddlewaretoken": client.cookies["csrftoken"]})
            page = client.post("/conversations/new/", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]})
            conversation = int(re.search(r"/conversations/(\d+)/", page.headers["location"]).group(1))
            stream_url = f"/conversations/{conversation}/stream/"
            body, cut = [], False
            with client.stream("POST", stream_url, data={"content": "Today was awful",
                                                         "csrfmiddlewaretoken": client.cookies["csrftoken"]}) as r:
                for chunk in r.iter_text():
                    body.append(chunk)
                    if not cut and "event: delta" in "".join(body):
                        # PostgreSQL restarts under the reply: every connection of the web server is cut
                        _psql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")
                        cut = True
            assert cut
            events = _sse_events("".join(body))
            assert events[0][0] == "patient"
            assert events[-1][0] in ("done", "error"), events  # the patient is told how it ended

            again = client.post(stream_url, data={"content": "Are you still there?",
                                                  "csrfmiddlewaretoken": client.cookies["csrftoken"]})
            assert again.status_code == 200 and _sse_events(again.text)[-1][0] == "done"
        kept = _psql("SELECT content FROM conversations_message WHERE role = 'patient' ORDER BY id", database)
        assert kept.splitlines() == ["Today was awful", "Are you still there?"]
    finally:
        _psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
        _psql(f"DROP DATABASE IF EXISTS {database}")
