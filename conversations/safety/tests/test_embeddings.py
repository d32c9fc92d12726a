"""The numpy MiniLM forward pass matches sentence-transformers, and the web process needs no torch."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conversations.safety.embedding import get_encoder, model_path

TEXTS = [
    "I want to kill myself",
    "this exam is killing me",
    "",
    "Résumé naïve café — emojis 🙂 and punctuation!!!",
    "word " * 400,  # longer than the 256-token limit: truncated the same way
    "my dad hits me when he's drunk and I'm scared to go home",
]


@pytest.mark.slow
def test_embeddings_match_sentence_transformers_within_1e_4_cosine():
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = get_encoder().encode(TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert ours.shape == (len(TEXTS), 384)
    assert np.all(cosine > 1 - 1e-4), cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batched_and_single_encoding_agree():
    encoder = get_encoder()
    batch = encoder.encode(TEXTS[:4] + TEXTS[5:])
    single = np.stack([encoder.encode(t)[0] for t in TEXTS[:4] + TEXTS[5:]])
    assert np.allclose(batch, single, atol=1e-5)


def test_long_inputs_on_two_threads_match_one_thread():
    encoder = get_encoder()
    ids = [e.ids for e in encoder.tokenizer.encode_batch(TEXTS)]
    one = encoder._forward(ids, threads=1)
    assert np.allclose(encoder._forward(ids, threads=2), one, atol=1e-5)
    assert np.allclose(encoder._forward(ids[4:5], threads=2), one[4:5], atol=1e-5)  # 256 tokens alone


def test_the_web_process_with_the_screen_loaded_never_imports_torch_or_transformers():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE','therapist_ai.settings');"
        "os.environ.setdefault('DEBUG','1'); django.setup();"
        "from conversations.safety.screening import screen_input, screen_output;"
        "assert screen_input('everyone would be better off without me').is_crisis;"
        "screen_output('hello'); import conversations.services, therapist_ai.urls, therapist_ai.asgi;"
        "bad = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules);"
        "print('IMPORTED', bad)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "IMPORTED []" in out.stdout


def test_warm_up_loads_the_model_once_for_the_process():
    from conversations.safety import screen_model
    from conversations.safety.screening import warm_up

    warm_up()
    model = screen_model._model
    assert model is not None
    warm_up()
    assert screen_model.get_screen_model() is model
