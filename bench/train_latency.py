"""Training latency and its effect on chat, measured on real processes.

    .venv/bin/python bench/train_latency.py [--base-model DIR] [--chat-requests 30]

1. Threshold to ready version: a fresh SQLite database, the training cluster running
   (``Q_CLUSTER_NAME=training manage.py qcluster``), AUTO_TRAIN_THRESHOLD=100 and default
   TRAIN_* settings. Transcripts are approved until one short of the threshold; then the
   clock starts and the approval that crosses it is made. Stops when the model version is
   ready (goal on 2 CPU cores: <= 20 s with the tiny bootstrap model, <= 120 s with
   SmolLM2-135M-Instruct, ``--base-model DATA_DIR/base_model`` after ``bootstrap_base_model``).
2. Chat latency while training: the web server (uvicorn) with the fake Groq upstream answers
   ``POST /api/v1/conversations/{id}/messages/`` (safety screen + provider + storage), first
   idle, then while a long training run is in progress on the same machine (goal <= 1.2x).

The base model defaults to ``DATA_DIR/base_model`` (``manage.py bootstrap_base_model``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
sys.path.insert(0, str(REPO))

from devtools.servers import free_port  # noqa: E402


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Proc:
    def __init__(self, name, cmd, env, logdir: Path):
        self.name, self.log_path = name, logdir / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def training_cluster(env, logdir, name, **extra) -> Proc:
    proc = Proc(name, [PY, "manage.py", "qcluster"], {**env, "Q_CLUSTER_NAME": "training", **extra}, logdir)
    wait_until(lambda: "ready for work" in proc.output(), 120, "the training cluster to start")
    return proc


def setup_django(env):
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def make_transcripts(n: int, patient):
    from conversations.models import Conversation, Message

    exchanges = [
        ("I feel anxious before work every morning.", "That sounds hard. What part of the morning feels worst?"),
        ("I can't sleep because my mind keeps racing.", "Racing thoughts are exhausting. Would writing them down help?"),
        ("I feel lonely since I moved to a new city.", "Moving can feel isolating. Who could you reach out to?"),
        ("My exams are coming up and I panic.", "Exams can feel overwhelming. Short study blocks may help."),
    ]
    out = []
    for i in range(n):
        conv = Conversation.objects.create(patient=patient, title=f"bench {i}")
        for j in range(2):
            said, reply = exchanges[(i + j) % len(exchanges)]
            p = Message.objects.create(conversation=conv, role="patient", content=said)
            Message.objects.create(conversation=conv, role="assistant", content=reply, reply_to=p)
        out.append(conv)
    return out


def threshold_to_ready(env, logdir) -> dict:
    from django.contrib.auth.models import Group, User

    from clinicians.services import transcript_approve
    from conversations.accounts.services import patient_register
    from training.models import ModelVersion, TrainingRun

    clinician = User.objects.create_user("bench_clinician", is_staff=True)
    clinician.groups.add(Group.objects.get_or_create(name="Clinicians")[0])
    patient = patient_register(username="bench_patient", password="Calm-harbour-2718", email="b@example.org",
                               accept_terms=True, training_consent=True)
    conversations = make_transcripts(25, patient)  # 4 messages each: 100 = the threshold
    cluster = training_cluster(env, logdir, "training-cluster")
    try:
        for conv in conversations[:-1]:
            transcript_approve(conversation=conv, clinician=clinician)
        assert not TrainingRun.objects.exists()
        started = time.monotonic()
        transcript_approve(conversation=conversations[-1], clinician=clinician)
        version = wait_until(lambda: ModelVersion.objects.filter(status="ready").first(), 600, "a ready version")
        elapsed = time.monotonic() - started
        run = version.run
        return {
            "seconds": elapsed,
            "queue_wait": (run.started_at - run.created_at).total_seconds(),
            "run_seconds": (run.finished_at - run.started_at).total_seconds(),
            "steps": run.progress_total, "tokens_per_second": run.tokens_per_second, "version": version.name,
            "metrics": version.metrics,
        }
    finally:
        cluster.stop()


def chat_latency(env, logdir, requests: int) -> dict:
    from rest_framework.authtoken.models import Token

    from conversations.accounts.services import patient_register
    from conversations.services.chat import conversation_create
    from training.models import TrainingRun
    from training.services import training_run_now

    fake_port, web_port = free_port(), free_port()
    fake = Proc("fake-groq", [PY, "-m", "devtools.fake_groq", "--port", str(fake_port), "--ttft", "0.05",
                              "--tps", "0"], env, logdir)
    web_env = {**env, "GROQ_BASE_URL": f"http://127.0.0.1:{fake_port}", "GROQ_API_KEY": "bench",
               "MESSAGE_THROTTLE_RATE": "100000/min"}
    web = Proc("web", [PY, "-m", "uvicorn", "therapist_ai.asgi:application", "--port", str(web_port),
                       "--no-access-log"], web_env, logdir)
    user = patient_register(username="chat_patient", password="Calm-harbour-2718", email="c@example.org",
                            accept_terms=True, training_consent=True)
    token = Token.objects.create(user=user).key
    conversation = conversation_create(patient=user)
    url = f"http://127.0.0.1:{web_port}/api/v1/conversations/{conversation.pk}/messages/"

    def post(i: int) -> float:
        body = json.dumps({"content": f"I have been feeling a bit stressed about work, day {i}."}).encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Token {token}", "Content-Type": "application/json"})
        t = time.monotonic()
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
        return time.monotonic() - t

    def sample() -> list[float]:
        return [post(i) for i in range(requests)]

    cluster = None
    try:
        wait_until(lambda: _listening(web_port) and _listening(fake_port), 60, "the web server")
        [post(i) for i in range(3)]  # warm up (safety screen model, connections)
        idle = sample()
        cluster = training_cluster(env, logdir, "training-cluster-long", TRAIN_MAX_STEPS="100000")
        run = training_run_now(requested_by=None)
        wait_until(lambda: TrainingRun.objects.get(pk=run.pk).progress_step > 2, 300, "the long run to progress")
        busy = sample()
        still_running = TrainingRun.objects.get(pk=run.pk).status == "running"
    finally:
        for proc in (cluster, web, fake):
            if proc is not None:
                proc.stop()
    return {"idle": idle, "busy": busy, "still_running": still_running}


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", default=None, help="default: DATA_DIR/base_model (bootstrap)")
    parser.add_argument("--chat-requests", type=int, default=30)
    args = parser.parse_args()
    base_model = args.base_model or str(Path(os.environ.get("DATA_DIR", REPO / "var")) / "base_model")
    if not (Path(base_model) / "config.json").exists() and not args.base_model:
        subprocess.run([PY, "manage.py", "bootstrap_base_model", "--tiny"], cwd=REPO, check=True,
                       env={**os.environ, "DEBUG": "1"})
    tmp = Path(tempfile.mkdtemp(prefix="train-latency-"))
    env = {**os.environ, "DEBUG": "1", "DATA_DIR": str(tmp), "MODEL_STORAGE_DIR": str(tmp / "models"),
           "BASE_MODEL": base_model, "ENABLE_AUTO_TRAINING": "1", "AUTO_TRAIN_THRESHOLD": "100",
           "TRAIN_HEARTBEAT_TIMEOUT": "60", "PYTHONWARNINGS": "ignore"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    setup_django(env)

    t = threshold_to_ready(env, tmp)
    print(f"threshold-crossing approval -> ready version: {t['seconds']:.1f} s (goal <= 20 s with the tiny "
          f"bootstrap model, <= 120 s with SmolLM2-135M-Instruct on 2 cores)")
    print(f"  queue wait {t['queue_wait']:.2f} s, run {t['run_seconds']:.1f} s ({t['steps']} steps, "
          f"{t['tokens_per_second']:.0f} tokens/s), version {t['version']}")
    print(f"  eval loss {t['metrics']['eval_loss']} vs base {t['metrics']['base_eval_loss']}")

    c = chat_latency(env, tmp, args.chat_requests)
    idle_p50, busy_p50 = statistics.median(c["idle"]), statistics.median(c["busy"])
    idle_mean, busy_mean = statistics.mean(c["idle"]), statistics.mean(c["busy"])
    print(f"chat latency idle: p50 {idle_p50 * 1000:.0f} ms, mean {idle_mean * 1000:.0f} ms "
          f"({len(c['idle'])} requests)")
    print(f"chat latency during training: p50 {busy_p50 * 1000:.0f} ms, mean {busy_mean * 1000:.0f} ms "
          f"(run still running at the end: {c['still_running']})")
    print(f"ratio during training / idle: p50 {busy_p50 / idle_p50:.2f}x, mean {busy_mean / idle_mean:.2f}x "
          f"(goal <= 1.2x)")


if __name__ == "__main__":
    main()
