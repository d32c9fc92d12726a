"""The fine-tuning pipeline: a plain function, config + conversations in, adapter directory out.

No Django here. torch / transformers / peft / trl are imported inside the functions so
that importing this module (for its dataclasses) stays cheap.

* Base model and tokenizer (with its chat template) come from ``TrainConfig.base_model``:
  a Hugging Face id or a local directory.
* Loss is on assistant turns only (``training.tokenising``).
* Batches waste no compute on padding, and activations are recomputed only when they would
  not fit in memory (``training.batching``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.batching import (
    LengthGroupedBatches,
    batching_choose,
    gradient_checkpointing_choose,
    length_grouped_trainer_class,
)
from training.errors import PipelineError
from training.tokenising import IGNORE_INDEX, conversations_tokenize, labels_from_masks

__all__ = ["PipelineError", "TrainConfig", "adapter_train"]


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


# ----------------------------------------------------------------------------- device, model


def device_choose(requested: str = "auto") -> tuple[str, str]:
    """(device, dtype): CUDA when present (bf16 where supported), else CPU in float32."""
    import torch

    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise PipelineError("device cuda was requested but no CUDA device is available")
        return "cuda", "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "cpu", "float32"


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
    trainer = length_grouped_trainer_class()(
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
    compare_with: tuple[str, Path] | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter and save it (with the tokenizer) into ``config.output_dir``.

    ``compare_with``: (name, adapter directory) of the version serving now; its held-out loss on
    the same conversations is measured too (``active_eval_loss``), so staff compare like with like.
    """
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
    if compare_with is not None:
        metrics.update(_compared(peft_model, compare_with, eval_rows, config, tokenizer.pad_token_id))
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


def _compared(peft_model, compare_with: tuple[str, Path], rows: list[dict], config: TrainConfig,
              pad_token_id: int) -> dict:
    """Held-out loss of another adapter (the active version) on the same rows; never fails the run."""
    name, path = compare_with
    try:
        peft_model.load_adapter(str(path), adapter_name="compare")
        peft_model.set_adapter("compare")
        result = eval_loss(peft_model, rows, batch_size=config.eval_batch_size, pad_token_id=pad_token_id)
    except Exception as exc:  # a version of another base, unreadable files: report, do not fail
        return {"active_version": name, "active_eval_error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        peft_model.set_adapter("default")
    return {"active_version": name, "active_eval_loss": result["loss"], "active_eval_perplexity": result["perplexity"]}


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
