"""Fixtures for training tests: a tiny real base model, approved transcripts, a real qcluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinicians.tests.conftest import make_patient, make_transcript

REPO = Path(__file__).resolve().parents[2]

EXCHANGES = [
    ("I feel anxious before work every morning.", "That sounds hard. What part of the morning feels worst?"),
    ("I can't sleep because my mind keeps racing.", "Racing thoughts at night are exhausting. Would writing them down help?"),
    ("I feel lonely since I moved to a new city.", "Moving somewhere new can feel isolating. Who could you reach out to?"),
    ("My exams are coming up and I panic.", "Exams can feel overwhelming. Short study blocks with breaks may help."),
]


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A tiny base model built once per test session by the bootstrap code (same from_pretrained paths)."""
    from training.bootstrap import TINY_SPEC, base_model_build, bootstrap_is_valid

    target = tmp_path_factory.getbasetemp() / "tiny_base_model"
    if not bootstrap_is_valid(target):
        base_model_build(output_dir=target, spec=TINY_SPEC)
    return target


SYSTEM_PROMPT = "You are a supportive AI assistant, not a therapist."

TRAIN_ENV = {
    "THERAPIST_SYSTEM_PROMPT": SYSTEM_PROMPT,
    "TRAIN_EPOCHS": "1",
    "TRAIN_MAX_STEPS": "6",
    "TRAIN_BATCH_SIZE": "4",
    "TRAIN_MAX_LENGTH": "1024",
    "TRAIN_LORA_R": "4",
    "TRAIN_LORA_ALPHA": "8",
    "TRAIN_HEARTBEAT_INTERVAL": "0.3",
    "TRAIN_HEARTBEAT_TIMEOUT": "3",
}


@pytest.fixture
def train_settings(settings, tiny_base_model, tmp_path):
    """Settings for fast runs on the tiny model, in a fresh model storage directory."""
    settings.BASE_MODEL = str(tiny_base_model)
    settings.MODEL_STORAGE_DIR = tmp_path / "trained_models"
    settings.TRAIN_EPOCHS = 1.0
    settings.TRAIN_MAX_STEPS = 6
    settings.TRAIN_BATCH_SIZE = 4
    settings.TRAIN_MAX_LENGTH = 1024
    settings.TRAIN_LORA_R = 4
    settings.TRAIN_LORA_ALPHA = 8
    settings.TRAIN_HEARTBEAT_INTERVAL = 0.3
    settings.TRAIN_HEARTBEAT_TIMEOUT = 3
    settings.AUTO_TRAIN_THRESHOLD = 100
    settings.ENABLE_AUTO_TRAINING = False
    settings.THERAPIST_SYSTEM_PROMPT = SYSTEM_PROMPT  # short: the tiny tokenizer makes long prompts costly
    return settings


def approved_transcripts(count: int, *, clinician, patient=None, turns: int = 2, start: int = 0) -> list:
    """``count`` transcripts of ``turns`` exchanges (2 messages each), approved by ``clinician``."""
    from clinicians.services import transcript_approve

    patient = patient or make_patient(f"train_patient_{start}", consent=True)
    conversations = []
    for i in range(start, start + count):
        exchanges = [EXCHANGES[(i + j) % len(EXCHANGES)] for j in range(turns)]
        conversation = make_transcript(patient, exchanges)
        transcript_approve(conversation=conversation, clinician=clinician)
        conversations.append(conversation)
    return conversations


def database_url() -> str:
    """The URL of the database the tests are using right now (for a subprocess to open)."""
    from django.db import connection

    sd = connection.settings_dict
    if sd["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{sd['NAME']}"
    auth = sd["USER"] + (f":{sd['PASSWORD']}" if sd.get("PASSWORD") else "")
    return f"postgres://{auth}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{sd['NAME']}"


def subprocess_env(settings, **extra) -> dict:
    env = dict(os.environ)
    env.update(TRAIN_ENV)
    env.update({
        "DATABASE_URL": database_url(),
        "BASE_MODEL": str(settings.BASE_MODEL),
        "MODEL_STORAGE_DIR": str(settings.MODEL_STORAGE_DIR),
        "ENABLE_AUTO_TRAINING": "1" if settings.ENABLE_AUTO_TRAINING else "0",
        "AUTO_TRAIN_THRESHOLD": str(settings.AUTO_TRAIN_THRESHOLD),
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


class QCluster:
    """``manage.py qcluster`` as a separate process group (the real django-q2 worker)."""

    def __init__(self, env: dict, log_path: Path, cluster: str = "training"):
        self.env = {**env, "Q_CLUSTER_NAME": cluster}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> QCluster:
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=REPO, env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
