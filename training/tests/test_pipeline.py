"""The plain pipeline on a tiny real model: it learns, and only assistant tokens carry loss."""

import pytest

from training import batching, pipeline, tokenising
from training.bootstrap import CHAT_TEMPLATE
from training.errors import PipelineError
from training.pipeline import TrainConfig
from training.tokenising import IGNORE_INDEX

CONVERSATION = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "I feel anxious before work."},
    {"role": "assistant", "content": "That sounds hard. What part feels worst?"},
    {"role": "patient", "content": "The commute."},
    {"role": "assistant", "content": "Try slow breathing on the way."},
]
ASSISTANT_TEXTS = ["That sounds hard. What part feels worst?", "Try slow breathing on the way."]

CHATML_NO_MARKERS = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture
def tokenizer(tiny_base_model):
    return pipeline.tokenizer_load(str(tiny_base_model))


def assistant_text(tokenizer, ids, mask):
    return tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])


def test_generation_marker_mask_covers_exactly_the_assistant_turns_and_their_end_token(tokenizer):
    messages = tokenising.normalise_messages(CONVERSATION)
    ids, mask = tokenising.assistant_mask_from_markers(tokenizer, messages)
    assert assistant_text(tokenizer, ids, mask) == "".join(t + "<|end|>" for t in ASSISTANT_TEXTS)


def test_prefix_masking_without_markers_matches_the_marker_mask(tokenizer):
    messages = tokenising.normalise_messages(CONVERSATION)
    with_markers = tokenising.assistant_mask_from_markers(tokenizer, messages)
    tokenizer.chat_template = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    assert not tokenising.has_generation_markers(tokenizer.chat_template)
    assert tokenising.assistant_mask_from_prefixes(tokenizer, messages) == with_markers


def test_prefix_masking_on_a_chatml_template_trains_only_assistant_content_and_end_token(tokenizer):
    tokenizer.chat_template = CHATML_NO_MARKERS
    messages = tokenising.normalise_messages(CONVERSATION)
    ids, mask = tokenising.assistant_mask_from_prefixes(tokenizer, messages)
    learned = assistant_text(tokenizer, ids, mask)
    assert learned == "".join(t + "<|im_end|>" for t in ASSISTANT_TEXTS)
    assert "anxious" not in learned and "commute" not in learned and "kind" not in learned


def test_a_template_that_rewrites_earlier_turns_is_refused_with_a_clear_error(tokenizer):
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] + ':' + m['content'] + ('' if loop.last else '|') }}{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    with pytest.raises(PipelineError, match="prefix"):
        tokenising.assistant_mask_from_prefixes(tokenizer, tokenising.normalise_messages(CONVERSATION))


def test_unknown_roles_are_refused():
    with pytest.raises(PipelineError, match="unknown message role"):
        tokenising.normalise_messages([{"role": "doctor", "content": "hi"}])


def test_trainer_labels_and_padding_free_batches_carry_loss_only_on_assistant_tokens(tiny_base_model, tmp_path):
    config = TrainConfig(base_model=str(tiny_base_model), output_dir=tmp_path, batch_size=3, max_steps=1,
                         batching="padding_free")
    device, dtype = pipeline.device_choose("cpu")
    tokenizer = pipeline.tokenizer_load(config.base_model)
    rows = tokenising.conversations_tokenize(tokenizer, [CONVERSATION] * 3, max_length=256)
    model = pipeline.model_load(config.base_model, device=device, dtype=dtype)
    trainer = pipeline.sft_trainer_build(config, rows, tokenizer=tokenizer, model=model, device=device, dtype=dtype)

    for example in trainer.train_dataset:
        kept = [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != IGNORE_INDEX]
        assert tokenizer.decode(kept) == "".join(t + "<|end|>" for t in ASSISTANT_TEXTS)

    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[0] == 1  # padding-free: one flattened row, no pad tokens
    assert batch["input_ids"].shape[1] == sum(len(r["input_ids"]) for r in rows)
    assert "position_ids" in batch and int((batch["position_ids"][0] == 0).sum()) == 3
    labelled = batch["labels"][0][batch["labels"][0] != IGNORE_INDEX]
    assert tokenizer.decode(labelled.tolist()) == "".join(t + "<|end|>" for t in ASSISTANT_TEXTS) * 3


def test_cpu_batches_are_length_grouped_under_a_token_budget_and_only_assistant_tokens_carry_loss(
    tiny_base_model, tmp_path
):
    short = [CONVERSATION[0], *CONVERSATION[1:3]]
    conversations = [CONVERSATION, short] * 4
    config = TrainConfig(base_model=str(tiny_base_model), output_dir=tmp_path, batch_size=4, max_steps=1)
    device, dtype = pipeline.device_choose("cpu")
    assert batching.batching_choose(config.batching, device) == "grouped"
    tokenizer = pipeline.tokenizer_load(config.base_model)
    rows = tokenising.conversations_tokenize(tokenizer, conversations, max_length=256)
    lengths = [len(r["input_ids"]) for r in rows]
    model = pipeline.model_load(config.base_model, device=device, dtype=dtype)
    trainer = pipeline.sft_trainer_build(config, rows, tokenizer=tokenizer, model=model, device=device, dtype=dtype)

    batches = list(trainer.get_train_dataloader())
    budget = 4 * sum(lengths) / len(lengths)  # batch_size conversations of mean length
    assert sum(int(b["attention_mask"].sum()) for b in batches) == sum(lengths)  # every conversation once
    rows_per_batch = {}
    for batch in batches:
        real = batch["attention_mask"].sum(dim=1)
        assert int(real.min()) == int(real.max())  # grouped: same-length rows, no padding
        assert batch["input_ids"].numel() <= budget
        rows_per_batch.setdefault(int(real[0]), []).append(batch["input_ids"].shape[0])
        for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
            learned = tokenizer.decode(ids[labels != IGNORE_INDEX].tolist())
            assert learned in {ASSISTANT_TEXTS[0] + "<|end|>", "".join(t + "<|end|>" for t in ASSISTANT_TEXTS)}
    assert max(rows_per_batch[min(lengths)]) > max(rows_per_batch[max(lengths)])  # short ones travel together


def test_length_grouped_batches_cover_every_row_once_per_epoch_with_little_padding():
    import random

    rng = random.Random(3)
    lengths = [min(1024, int(rng.lognormvariate(5.3, 0.7))) for _ in range(300)]  # long-tailed, like transcripts
    sampler = batching.LengthGroupedBatches(lengths, batch_size=8, seed=1)
    epochs = [list(sampler), list(sampler)]
    for batches in epochs:
        assert len(batches) == len(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        padded = [len(b) * max(lengths[i] for i in b) for b in batches]
        assert all(size <= sampler.budget for size, b in zip(padded, batches, strict=True) if len(b) > 1)
        assert sum(padded) <= 1.05 * sum(lengths)
        assert max(padded) == sampler.largest_batch_tokens
    assert epochs[0] != epochs[1]  # a new order (and new company for equal lengths) each epoch


def test_gradient_checkpointing_is_kept_off_while_activations_fit_and_turned_on_when_they_do_not(monkeypatch):
    from types import SimpleNamespace

    qwen_05b = SimpleNamespace(hidden_size=896, intermediate_size=4864, num_hidden_layers=24)
    tiny = SimpleNamespace(hidden_size=64, intermediate_size=128, num_hidden_layers=2)
    monkeypatch.setattr(batching, "memory_free_bytes", lambda device: 24 * 2**30)
    choose = batching.gradient_checkpointing_choose
    assert not choose("auto", model_config=tiny, device="cpu", dtype="float32", batch_tokens=8 * 1024)
    assert choose("auto", model_config=qwen_05b, device="cuda", dtype="bfloat16", batch_tokens=8 * 1024)
    assert not choose("auto", model_config=qwen_05b, device="cuda", dtype="bfloat16", batch_tokens=1024)
    assert choose("on", model_config=tiny, device="cpu", dtype="float32", batch_tokens=1)
    assert not choose("off", model_config=qwen_05b, device="cuda", dtype="bfloat16", batch_tokens=10**6)
    with pytest.raises(PipelineError, match="gradient_checkpointing"):
        choose("sometimes", model_config=tiny, device="cpu", dtype="float32", batch_tokens=1)


@pytest.mark.slow
@pytest.mark.parametrize("batching", ["padding_free", "auto"])  # auto on CPU: grouped, activations kept
def test_loss_goes_down_on_a_learnable_set_and_the_adapter_beats_the_base_model(tiny_base_model, tmp_path, batching):
    learnable = [CONVERSATION] * 16
    progress = []
    config = TrainConfig(base_model=str(tiny_base_model), output_dir=tmp_path / "adapter", batch_size=8,
                         batching=batching,
                         max_steps=30, learning_rate=1e-2, lora_r=8, lora_alpha=16, lora_dropout=0.0,
                         logging_steps=1)
    result = pipeline.adapter_train(config, learnable, learnable[:2], on_progress=progress.append)

    losses = [point["loss"] for point in result.loss_history]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    assert result.metrics["eval_loss"] < result.metrics["base_eval_loss"]
    assert result.metrics["eval_perplexity"] < result.metrics["base_eval_perplexity"]
    assert progress[-1].step == progress[-1].total == 30
    assert result.tokens_per_second > 0 and result.train_tokens > 0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert not (tmp_path / "adapter" / "_trainer").exists()
    if batching == "auto":  # the CPU default: grouped batches, the tiny model's activations kept
        assert result.metrics["batching"] == "grouped" and result.metrics["gradient_checkpointing"] is False


def test_a_missing_base_model_fails_with_a_clear_message(tmp_path):
    config = TrainConfig(base_model=str(tmp_path / "nowhere"), output_dir=tmp_path / "out")
    with pytest.raises(PipelineError, match="cannot load the tokenizer"):
        pipeline.adapter_train(config, [CONVERSATION], [])
