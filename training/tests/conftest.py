"""Fixtures for training tests: a tiny real base model, approved transcripts, a real qcluster."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from devtools.factories import make_patient, make_transcript
from devtools.servers import database_url

EXCHANGES = [
    ("I feel anxious before work every morning.", "That sounds hard. What part of the morning feels worst?"),
    ("I can't sleep because my mind keeps racing.", "Racing thoughts at night are exhausting. Would writing them down help?"),
    ("I feel lonely since I moved to a new city.", "Moving somewhere new can feel isolating. Who could you reach out to?"),
    ("My exams are coming up and I panic.", "Exams can feel overwhelming. Short study blocks with breaks may help."),
]


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A tiny base model built once per test session by the bootstrap code (same from_pretrained paths)."""
    from dataclasses import replace

    from training.bootstrap import TINY_SPEC, base_model_build, bootstrap_is_valid

    target = tmp_path_factory.getbasetemp() / "tiny_base_model"
    if not bootstrap_is_valid(target):
        # Bounded by steps, not seconds: on a busy machine a time cap would build a weaker model
        # and the learning tests would depend on the load.
        base_model_build(output_dir=target, spec=replace(TINY_SPEC, max_seconds=600.0))
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


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
