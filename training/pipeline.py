"""The fine-tuning pipeline: a plain function, config + conversations in, adapter directory out.

No Django here. torch / transformers / peft / trl are imported inside the functions so
that importing this module (for its dataclasses) stays cheap.

* Base model and tokenizer (with its chat template) come from ``TrainConfig.base_model``:
  a Hugging Face id or a local directory.
* Loss is on assistant turns only. A chat template with ``{% generation %}`` markers gives
  the assistant mask directly (``return_assistant_tokens_mask``); for templates without
  them, the mask is computed from character spans of rendered prefixes (see
  ``assistant_mask_from_prefixes``).
* Batches waste no compute on padding: padding-free on CUDA (sequences concatenated,
  ``position_ids`` restart per example); on CPU, length-grouped batches under a token budget
  (see ``TrainConfig.batching`` and ``LengthGroupedBatches``).
* Activations are kept rather than recomputed (TRL turns gradient checkpointing on by
  default) when they fit comfortably in memory; see ``gradient_checkpointing_choose``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

IGNORE_INDEX = -100


class PipelineError(Exception):
    """A training run cannot proceed; the message says why in plain words."""


@dataclass
class TrainConfig:
    base_model: str
    output_dir: Path
    epochs: float = 3.0
    max_steps: int = 0  # 0: as many as the epochs need
    learning_rate: float = 1e-3
    batch_size: int = 8  # conversations per batch; grouped batches: on average (a token budget)
    gradient_accumulation_steps: int = 1
    max_length: int = 1024
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | list[str] = "all-linear"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    seed: int = 42
    # auto: padding-free on CUDA (varlen attention, no compute on pad tokens); on CPU,
    # length-grouped batches: without varlen kernels a padding-free batch attends over the
    # whole concatenation (block mask), which costs more than the little padding left once
    # lengths are grouped (bench/train_throughput.py).
    batching: str = "auto"  # auto | padding_free | grouped | padded
    # auto: off (faster: no second forward pass per step) when the activations of the largest
    # batch fit comfortably in free memory; on otherwise (big models, long conversations).
    gradient_checkpointing: str = "auto"  # auto | on | off
    device: str = "auto"  # auto | cpu | cuda
    eval_batch_size: int = 8
    threads: int = 0  # CPU threads for torch; 0: torch's default (all cores)
    logging_steps: int = 0  # 0: about 50 points on the loss curve

    def hyperparameters(self) -> dict:
        data = asdict(self)
        data.pop("output_dir")
        return data


@dataclass
class Progress:
    step: int
    total: int
    loss: float | None
    epoch: float
    history: list = field(default_factory=list)  # [{step, loss}, ...] so far


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    train_seconds: float
    train_tokens: int  # non-padding tokens the optimizer saw
    tokens_per_second: float
    loss_history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    device: str = "cpu"
    dtype: str = "float32"


# ----------------------------------------------------------------------------- tokenising


def normalise_messages(messages: list[dict]) -> list[dict]:
    """Chat-template roles: the curated set may say ``patient``; templates say ``user``."""
    roles = {"patient": "user", "user": "user", "assistant": "assistant", "system": "system"}
    out = []
    for m in messages:
        role = roles.get(m["role"])
        if role is None:
            raise PipelineError(f"unknown message role {m['role']!r}")
        out.append({"role": role, "content": m["content"]})
    return out


def has_generation_markers(template: str | None) -> bool:
    import re

    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None


def assistant_mask_from_markers(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    return list(out["input_ids"]), list(out["assistant_masks"])


def assistant_mask_from_prefixes(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Completion-only masking for chat templates without ``{% generation %}`` markers.

    Renders the conversation once, and for each assistant turn the prefix up to its
    generation prompt and up to its end. The characters between those two renders are
    the assistant's turn (content and end-of-turn token). Tokens whose character offsets
    fall inside such a span carry loss. Requires a prefix-preserving template, which is
    checked rather than assumed.
    """
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start_text = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        end_text = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (full.startswith(start_text) and full.startswith(end_text) and len(end_text) > len(start_text)):
            raise PipelineError(
                "the base model's chat template does not render conversations prefix by prefix, so "
                "assistant turns cannot be located; use a template with {% generation %} markers"
            )
        # Whitespace the template puts after the end-of-turn token belongs to no one.
        spans.append((len(start_text), len(end_text.rstrip())))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = []
    for start, end in enc["offset_mapping"]:
        inside = any(s <= start < e for s, e in spans) and end > start
        mask.append(1 if inside else 0)
    return list(enc["input_ids"]), mask


def conversations_tokenize(tokenizer, conversations: list[list[dict]], *, max_length: int) -> list[dict]:
    """``input_ids`` and ``assistant_masks`` per conversation, truncated to ``max_length``.

    Conversations left without a single assistant token after truncation are dropped.
    """
    use_markers = has_generation_markers(tokenizer.chat_template)
    rows = []
    for conv in conversations:
        messages = normalise_messages(conv)
        if use_markers:
            ids, mask = assistant_mask_from_markers(tokenizer, messages)
        else:
            ids, mask = assistant_mask_from_prefixes(tokenizer, messages)
        ids, mask = ids[:max_length], mask[:max_length]
        if any(mask):
            rows.append({"input_ids": ids, "assistant_masks": mask})
    return rows


def labels_from_masks(rows: list[dict]) -> list[list[int]]:
    return [
        [tok if keep else IGNORE_INDEX for tok, keep in zip(r["input_ids"], r["assistant_masks"], strict=True)]
        for r in rows
    ]


# ----------------------------------------------------------------------------- device, model


def device_choose(requested: str = "auto") -> tuple[str, str]:
    """(device, dtype): CUDA when present (bf16 where supported), else CPU in float32."""
    import torch

    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise PipelineError("device cuda was requested but no CUDA device is available")
        return "cuda", "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "cpu", "float32"


def batching_choose(requested: str, device: str) -> str:
    if requested not in {"auto", "padding_free", "grouped", "padded"}:
        raise PipelineError(f"unknown batching {requested!r}")
    if requested != "auto":
        return requested
    return "padding_free" if device == "cuda" else "grouped"


# Share of free memory that the activations of one batch may take before they are recomputed
# (checkpointed) instead of kept: leaves room for the optimizer, the allocator and the rest of
# the machine (on CPU, the web process).
ACTIVATION_MEMORY_SHARE = 0.25


def activation_bytes_estimate(model_config, *, tokens: int, dtype: str) -> int:
    """Upper estimate of the activations one batch keeps for the backward pass without checkpointing.

    Per token and decoder layer a Llama-style block with LoRA on every linear layer keeps
    hidden-sized tensors (norm inputs and outputs, q/k/v/o, attention output, LoRA dropout
    outputs) and MLP-sized ones (gate, up, activation, product, down_proj's LoRA input);
    attention is flash/SDPA (no T x T matrix kept). 20 and 8 of them are rounded up: the small
    bench model keeps ~9,000 elements per token and layer where this says 10,624.
    """
    hidden = int(getattr(model_config, "hidden_size", 0) or 0)
    mlp = int(getattr(model_config, "intermediate_size", 0) or 4 * hidden)
    layers = int(getattr(model_config, "num_hidden_layers", 0) or 0)
    element = 4 if dtype == "float32" else 2
    return tokens * layers * (20 * hidden + 8 * mlp) * element


def memory_free_bytes(device: str) -> int:
    """Free memory where the activations live: the CUDA device's, or the machine's (cgroup-aware)."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    free = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # a container's memory limit is tighter than the host's free memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free if free is not None else 1 << 62, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(0, free) if free is not None else 0


def gradient_checkpointing_choose(requested: str, *, model_config, device: str, dtype: str,
                                  batch_tokens: int) -> bool:
    """Checkpoint only when the activations of the largest batch would not fit comfortably.

    Checkpointing recomputes each layer's forward pass during backward: about a third more
    compute per step, in exchange for memory that small models on large machines do not need.
    """
    if requested not in {"auto", "on", "off"}:
        raise PipelineError(f"unknown gradient_checkpointing {requested!r} (auto, on or off)")
    if requested != "auto":
        return requested == "on"
    needed = activation_bytes_estimate(model_config, tokens=batch_tokens, dtype=dtype)
    return needed > ACTIVATION_MEMORY_SHARE * memory_free_bytes(device)


def tokenizer_load(base_model: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot load the tokenizer of base model {base_model!r}: {exc}") from exc
    if not tokenizer.chat_template:
        raise PipelineError(f"base model {base_model!r} has no chat template; use an instruct/chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_load(base_model: str, *, device: str, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype=getattr(torch, dtype))
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot load base model {base_model!r}: {exc}") from exc
    return model.to(device)


# ----------------------------------------------------------------------------- training


def _progress_callback(on_progress: Callable[[Progress], None] | None, history: list[dict]):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        last_loss: float | None = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.last_loss = float(logs["loss"])
                history.append({"step": state.global_step, "loss": round(self.last_loss, 5)})

        def on_step_end(self, args, state, control, **kwargs):
            if on_progress is not None:
                on_progress(
                    Progress(state.global_step, state.max_steps, self.last_loss, float(state.epoch or 0), history)
                )

    return ProgressCallback()


def sft_trainer_build(config: TrainConfig, train_rows: list[dict], *, tokenizer, model, device: str, dtype: str,
                      callbacks: list | None = None):
    """The TRL ``SFTTrainer`` with a PEFT LoRA config on pre-tokenised, assistant-masked rows."""
    import datasets
    from datasets import Dataset
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()

    batching = batching_choose(config.batching, device)
    lengths = [len(r["input_ids"]) for r in train_rows]
    sampler = None
    if batching == "grouped":
        sampler = LengthGroupedBatches(lengths, batch_size=config.batch_size, seed=config.seed)
        batches_per_epoch, largest_batch = len(sampler), sampler.largest_batch_tokens
    else:
        batches_per_epoch = math.ceil(len(train_rows) / config.batch_size)
        if batching == "padded":
            largest_batch = max(lengths) * min(config.batch_size, len(lengths))
        else:  # padding-free: the longest rows concatenated
            largest_batch = sum(sorted(lengths)[-config.batch_size:])
    checkpointing = gradient_checkpointing_choose(
        config.gradient_checkpointing, model_config=model.config, device=device, dtype=dtype,
        batch_tokens=largest_batch,
    )
    steps_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation_steps)
    total = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    args = SFTConfig(
        output_dir=str(Path(config.output_dir) / "_trainer"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        activation_checkpointing=checkpointing,  # TRL's default is on; transformers' new name for it
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=int(total * config.warmup_ratio),
        weight_decay=config.weight_decay,
        logging_steps=config.logging_steps or max(1, total // 50),
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=config.seed,
        use_cpu=device == "cpu",
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        padding_free=batching == "padding_free",
        max_length=None,  # rows are already truncated (padding-free needs None without packing)
        dataloader_num_workers=0,
        disable_tqdm=True,
        remove_unused_columns=True,
    )
    peft_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks or [],
    )
    trainer.length_grouped_batches = sampler
    trainer.remove_callback(PrinterCallback)  # progress goes to our callback, not stdout
    return trainer


def _trainer_class():
    """``SFTTrainer`` that takes its training batches from ``length_grouped_batches`` when set."""
    from torch.utils.data import DataLoader
    from trl import SFTTrainer

    class Trainer(SFTTrainer):
        length_grouped_batches = None

        def get_train_dataloader(self):
            if self.length_grouped_batches is None:
                return super().get_train_dataloader()
            dataset = self._remove_unused_columns(self.train_dataset, description="Training")
            loader = DataLoader(dataset, batch_sampler=self.length_grouped_batches, collate_fn=self.data_collator,
                                num_workers=0)
            return self.accelerator.prepare(loader)

    return Trainer


class LengthGroupedBatches:
    """Batches of conversations of similar length under a token budget, in shuffled order.

    Rows are sorted by length (ties broken at random each epoch) and cut into batches whose
    padded size (rows x longest row) stays within ``batch_size`` x the mean row length: short
    conversations travel in larger batches, long ones in smaller, so every step does about the
    same work, almost nothing is padding, and no batch is large enough to fall out of the CPU
    caches. Batches are shuffled each epoch; each row appears exactly once per epoch.
    """

    def __init__(self, lengths: list[int], *, batch_size: int, seed: int):
        self.lengths, self.seed, self.epoch = list(lengths), seed, 0
        self.budget = max(max(self.lengths), round(batch_size * sum(self.lengths) / len(self.lengths)))
        self._batches = self._plan(0)
        self.largest_batch_tokens = max(len(b) * max(self.lengths[i] for i in b) for b in self._batches)

    def _plan(self, epoch: int) -> list[list[int]]:
        import random

        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], rng.random()))
        batches: list[list[int]] = [[]]
        for i in order:  # ascending: the row being added is the longest of its batch
            if batches[-1] and (len(batches[-1]) + 1) * self.lengths[i] > self.budget:
                batches.append([])
            batches[-1].append(i)
        rng.shuffle(batches)
        return batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._batches)  # the same for every epoch: lengths alone decide the cuts

    def __iter__(self):
        self._batches = self._plan(self.epoch)
        self.epoch += 1
        yield from self._batches


def eval_loss(model, rows: list[dict], *, batch_size: int, pad_token_id: int) -> dict:
    """Token-weighted loss and perplexity on assistant tokens of held-out rows."""
    import torch
    import torch.nn.functional as F

    if not rows:
        return {"loss": None, "perplexity": None, "tokens": 0}
    device = next(model.parameters()).device
    labels_all = labels_from_masks(rows)
    total_loss, total_tokens = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            batch_ids = [r["input_ids"] for r in rows[i : i + batch_size]]
            batch_labels = labels_all[i : i + batch_size]
            width = max(len(x) for x in batch_ids)
            ids = torch.full((len(batch_ids), width), pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch_ids), width), IGNORE_INDEX, dtype=torch.long)
            attn = torch.zeros((len(batch_ids), width), dtype=torch.long)
            for j, (x, y) in enumerate(zip(batch_ids, batch_labels, strict=True)):
                ids[j, : len(x)] = torch.tensor(x)
                labels[j, : len(y)] = torch.tensor(y)
                attn[j, : len(x)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
            shift_logits = logits[:, :-1].reshape(-1, logits.size(-1))
            shift_labels = labels[:, 1:].reshape(-1).to(device)
            total_loss += F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="sum").item()
            total_tokens += int((shift_labels != IGNORE_INDEX).sum())
    if was_training:
        model.train()
    loss = total_loss / max(1, total_tokens)
    return {"loss": round(loss, 5), "perplexity": round(math.exp(min(loss, 50)), 4), "tokens": total_tokens}


def adapter_train(
    config: TrainConfig,
    train_conversations: list[list[dict]],
    eval_conversations: list[list[dict]],
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter and save it (with the tokenizer) into ``config.output_dir``."""
    import torch

    torch.manual_seed(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    device, dtype = device_choose(config.device)
    tokenizer = tokenizer_load(config.base_model)
    train_rows = conversations_tokenize(tokenizer, train_conversations, max_length=config.max_length)
    eval_rows = conversations_tokenize(tokenizer, eval_conversations, max_length=config.max_length)
    if not train_rows:
        raise PipelineError("no training example has an assistant turn to learn from")
    model = model_load(config.base_model, device=device, dtype=dtype)
    history: list[dict] = []
    trainer = sft_trainer_build(
        config, train_rows, tokenizer=tokenizer, model=model, device=device, dtype=dtype,
        callbacks=[_progress_callback(on_progress, history)],
    )
    started = time.monotonic()
    output = trainer.train()
    train_seconds = time.monotonic() - started
    epochs_done = float(trainer.state.epoch or 0)
    train_tokens = int(sum(len(r["input_ids"]) for r in train_rows) * epochs_done)
    peft_model = trainer.model
    metrics = {"train_loss": round(float(output.training_loss), 5), "eval_examples": len(eval_rows),
               "batching": batching_choose(config.batching, device),
               "gradient_checkpointing": bool(trainer.args.gradient_checkpointing)}
    adapter = eval_loss(peft_model, eval_rows, batch_size=config.eval_batch_size, pad_token_id=tokenizer.pad_token_id)
    with peft_model.disable_adapter():
        base = eval_loss(peft_model, eval_rows, batch_size=config.eval_batch_size, pad_token_id=tokenizer.pad_token_id)
    metrics.update(
        eval_loss=adapter["loss"], eval_perplexity=adapter["perplexity"],
        base_eval_loss=base["loss"], base_eval_perplexity=base["perplexity"], eval_tokens=adapter["tokens"],
    )
    out_dir = Path(config.output_dir)
    trainer.save_model(str(out_dir))
    _remove_tree(out_dir / "_trainer")
    return TrainResult(
        output_dir=out_dir,
        steps=int(trainer.state.global_step),
        train_seconds=round(train_seconds, 3),
        train_tokens=train_tokens,
        tokens_per_second=round(train_tokens / train_seconds, 1) if train_seconds > 0 else 0.0,
        loss_history=history,
        metrics=metrics,
        device=device,
        dtype=dtype,
    )


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def preload() -> None:
    """Import the training libraries (the training worker's parent does this before forking)."""
    import datasets  # noqa: F401
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401
    from trl import SFTTrainer  # noqa: F401
