"""How a training run's batches are cut, and whether activations are kept or recomputed.

Batches waste no compute on padding: padding-free on CUDA (sequences concatenated,
``position_ids`` restart per example); on CPU, length-grouped batches under a token budget
(``LengthGroupedBatches``). Activations are kept rather than recomputed (TRL turns gradient
checkpointing on by default) when they fit comfortably in memory
(``gradient_checkpointing_choose``). No Django; torch is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path

from training.errors import PipelineError


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


# Columns TRL's collator reads from a prepared row (TRL folds the assistant mask into
# ``labels``); anything else the dataset carries is dropped before batching.
COLLATED_COLUMNS = ("input_ids", "labels", "seq_lengths", "attention_mask", "position_ids",
                    "assistant_masks", "completion_mask")


def length_grouped_trainer_class():
    """``SFTTrainer`` that takes its training batches from ``length_grouped_batches`` when set.

    The seam with TRL/transformers: ``get_train_dataloader`` is the documented override point
    of ``Trainer``; only public APIs are used (``datasets.Dataset.select_columns``,
    ``accelerator.prepare``). ``training/tests/test_pipeline.py`` fails loudly if a library
    upgrade stops these batches reaching the optimizer (it checks the loader's batches).
    """
    from torch.utils.data import DataLoader
    from trl import SFTTrainer

    class LengthGroupedSFTTrainer(SFTTrainer):
        length_grouped_batches = None

        def get_train_dataloader(self):
            if self.length_grouped_batches is None:
                return super().get_train_dataloader()
            dataset = self.train_dataset
            dataset = dataset.select_columns([c for c in COLLATED_COLUMNS if c in dataset.column_names])
            loader = DataLoader(dataset, batch_sampler=self.length_grouped_batches, collate_fn=self.data_collator,
                                num_workers=0)
            return self.accelerator.prepare(loader)

    return LengthGroupedSFTTrainer


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
