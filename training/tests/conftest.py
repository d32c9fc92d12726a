"""Fixtures for training tests: a tiny real base model, approved transcripts, a real qcluster."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from devtools.factories import make_patient, make_transcript
from devtools.servers import database_url, inference_server_thread

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


# ----------------------------------------------------------------------------- serving

REPLIES = {"a": "Take one slow breath with me.", "b": "Write down one small step for tomorrow."}
NAMES = {"a": "model_20260301_000001", "b": "model_20260301_000002"}


def _train(tiny_base_model, out, reply: str) -> None:
    from training.pipeline import TrainConfig, adapter_train

    conversations = [[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text},
                      {"role": "assistant", "content": reply}]
                     for text in ("I feel lonely.", "I can't sleep.", "Work is too much.", "My exams scare me.",
                                  "Hello", "I had a bad day.")]
    adapter_train(TrainConfig(base_model=str(tiny_base_model), output_dir=out, epochs=40, batch_size=6,
                              learning_rate=1e-2, lora_r=4, lora_alpha=16, lora_dropout=0.0, max_length=128),
                  conversations, conversations[:1])


@pytest.fixture(scope="session")
def adapters(tiny_base_model, tmp_path_factory):
    """Two published versions: one trained to answer REPLIES["a"], one REPLIES["b"]."""
    from training import storage

    root = tmp_path_factory.mktemp("serving")
    storage_dir = root / "trained_models"
    paths = {}
    for key, reply in REPLIES.items():
        _train(tiny_base_model, root / key, reply)
        staging = storage.staging_dir_create(storage_dir, run_id=1)
        shutil.copytree(root / key, staging, dirs_exist_ok=True)
        storage.manifest_write(staging, description={"name": NAMES[key], "base_model": str(tiny_base_model)})
        paths[key] = storage.version_publish(staging, storage_dir=storage_dir, name=NAMES[key])
    return storage_dir, paths


@pytest.fixture(scope="session")
def inference_url(tiny_base_model, adapters):
    with inference_server_thread(base_model=tiny_base_model, storage_dir=adapters[0]) as url:
        yield url


@pytest.fixture
def served(settings, tiny_base_model, adapters, inference_url, fake_groq):
    """Settings pointing the chat flow at the inference server (learning mode until a promotion)."""
    from conversations.providers.openai_compat import reset_clients
    from training.serving.state import serving_view_forget

    settings.INFERENCE_URL = inference_url
    settings.INFERENCE_TEMPERATURE = 0.0  # greedy: each version says what it was trained to say
    settings.INFERENCE_MAX_TOKENS = 24
    settings.BASE_MODEL = str(tiny_base_model)
    settings.MODEL_STORAGE_DIR = adapters[0]
    settings.THERAPIST_SYSTEM_PROMPT = SYSTEM_PROMPT
    settings.CHAT_HISTORY_MESSAGES = 1
    settings.SERVING_SIGNOFFS_REQUIRED = 1
    serving_view_forget()
    reset_clients()
    yield settings
    serving_view_forget()
    reset_clients()


def served_version(adapters, key, tiny_base_model, **extra):
    """The database rows of the published adapter ``key`` ("a" or "b")."""
    from devtools.factories import make_model_version

    return make_model_version(adapters[1][key], base_model=str(tiny_base_model), **extra)


@pytest.fixture
def version_a(db, adapters, tiny_base_model):
    return served_version(adapters, "a", tiny_base_model)


@pytest.fixture
def version_b(db, adapters, tiny_base_model):
    return served_version(adapters, "b", tiny_base_model)
