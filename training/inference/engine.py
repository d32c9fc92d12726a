"""One base model, many chats: a scheduler thread that decodes every running chat together.

Why a scheduler: on a CPU one decode step of a 135M model costs about the same for 1 row as
for 8 (it is bound by reading the weights and by per-layer overhead, not by arithmetic), so
chats decoded together share that cost. This is continuous batching with a KV cache:

* Requests wait in a queue. When the engine is idle it waits ``batch_wait`` seconds for
  company, then prefills the newcomers together (left-padded, one forward pass, logits of
  the last position only) and samples their first token.
* Between decode steps newcomers join the running batch: their cache is left-padded to the
  running one's length (or the reverse) and concatenated along the batch. Keys carry their
  rotary positions already, so padding on the left changes nothing but the mask.
* Each step feeds every row its last token, samples the next one per row (greedy or
  temperature/top-p), and streams the new text to that request. A row leaves the batch at
  its end-of-turn token, its token limit, its deadline or when its client went away; its
  cache rows are dropped and all-padding columns trimmed.
* Rows may use different adapters: PEFT's mixed-adapter batches (``adapter_names``; the base
  model is ``__base__``) apply each row's LoRA to its own rows on top of one shared base pass.

Only this thread touches the model. Loading and unloading adapters are submitted as
commands (``call``) and run between steps, so no forward pass ever sees a half-loaded model.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch
MIXED = "__mixed__"


@dataclass
class GenerationRequest:
    """One chat completion in flight; ``emit`` is called from the engine thread."""

    prompt_ids: list[int]
    adapter: str | None  # None: the base model
    max_tokens: int
    deadline: float  # time.monotonic() after which the reply is cut (finish_reason "length")
    emit: Any  # callable(kind, payload): ("delta", text) | ("done", finish_reason) | ("error", message)
    temperature: float = 0.0
    top_p: float = 1.0
    ignore_eos: bool = False  # vLLM's extension: generate to the limit (benchmarks, tests)
    generated: list[int] = field(default_factory=list)
    text: str = ""  # decoded text already emitted
    cancelled: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None

    def cancel(self) -> None:
        self.cancelled.set()


class Engine:
    def __init__(self, model, tokenizer, *, max_batch: int = 8, batch_wait: float = 0.005,
                 max_waiting: int = 256):
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.batch_wait, self.max_waiting = max_batch, batch_wait, max_waiting
        self.stop_ids = _stop_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.stop_ids)
        self.has_adapters = False  # set once the model is wrapped in a PeftModel
        self.adapter_state: str | None = None  # BASE, MIXED or the active adapter; None: unknown (after a load)
        self._cond = threading.Condition()
        self._waiting: collections.deque[GenerationRequest] = collections.deque()
        self._commands: collections.deque[tuple[Any, Future]] = collections.deque()
        self._rows: list[GenerationRequest] = []
        self._cache = self._mask = self._last = self._positions = None
        self._stopped = False
        self.peak_running = 0  # largest batch decoded so far (health: is batching happening?)
        self._thread = threading.Thread(target=self._loop, name="inference-engine", daemon=True)

    # ------------------------------------------------------------------ public, any thread

    def start(self) -> Engine:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def submit(self, request: GenerationRequest) -> bool:
        """Queue a request; False when the queue is full (the caller answers 503)."""
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                return False
            self._waiting.append(request)
            self._cond.notify_all()
        return True

    def call(self, fn) -> Future:
        """Run ``fn()`` on the engine thread between decode steps; its result in a Future."""
        future: Future = Future()
        with self._cond:
            if self._stopped:
                future.set_exception(RuntimeError("the inference engine has stopped"))
                return future
            self._commands.append((fn, future))
            self._cond.notify_all()
        return future

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._rows)

    # ------------------------------------------------------------------ engine thread

    def adapter_rows_end(self, adapter: str, message: str) -> None:
        """End the running chats on ``adapter`` with an error (it is being unloaded)."""
        keep = [i for i, r in enumerate(self._rows) if r.adapter != adapter]
        for row in self._rows:
            if row.adapter == adapter:
                row.emit("error", message)
        if len(keep) < len(self._rows):
            self._retain(keep)

    def _loop(self) -> None:
        import torch

        while True:
            with self._cond:
                while not (self._stopped or self._waiting or self._rows or self._commands):
                    self._cond.wait()
                if self._stopped:
                    break
                if self._waiting and not self._rows and not self._commands:
                    self._gather()
                commands = list(self._commands)
                self._commands.clear()
                room = self.max_batch - len(self._rows)
                newcomers = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
            for fn, future in commands:
                _run_command(fn, future)
            try:
                with torch.inference_mode():
                    self._admit([r for r in newcomers if self._still_wanted(r)])
                    if self._rows:
                        self._step()
            except Exception as exc:  # a failed step fails its rows, never the server
                for row in {id(r): r for r in self._rows + newcomers}.values():
                    row.emit("error", f"generation failed: {type(exc).__name__}: {exc}")
                self._retain([])
        for row in self._rows + list(self._waiting):
            row.emit("error", "the inference server is shutting down")
        for _fn, future in self._commands:
            future.set_exception(RuntimeError("the inference engine has stopped"))

    def _gather(self) -> None:
        """Idle engine, first request in: wait up to ``batch_wait`` for others to share its prefill."""
        deadline = time.monotonic() + self.batch_wait
        while len(self._waiting) < self.max_batch and not self._stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(timeout=remaining)

    def _still_wanted(self, row: GenerationRequest) -> bool:
        if row.cancelled.is_set():
            return False
        if row.adapter is not None and not (self.has_adapters and row.adapter in self.model.peft_config):
            row.emit("error", f"model version {row.adapter} is not loaded")  # unloaded while it waited
            return False
        if time.monotonic() >= row.deadline:
            row.emit("done", "length")
            return False
        return True

    def _adapters_use(self, adapters: list[str | None]) -> dict:
        """Put the PEFT model in the cheapest state for this batch; the forward's extra arguments.

        One adapter for every row: that adapter active (or adapter layers off for base-only
        batches), plain forward. Several: PEFT's mixed batch (``adapter_names``), which costs
        ~20-40% more per step. Switching state walks every LoRA layer (~40 ms for SmolLM2-135M),
        so the state is kept between steps and changes only with the batch's make-up.
        """
        unique = {a or BASE for a in adapters}
        want = unique.pop() if len(unique) == 1 else MIXED
        if want != self.adapter_state:
            lora = self.model.base_model
            if want == BASE:
                lora.disable_adapter_layers()
            else:
                lora.enable_adapter_layers()
                if want != MIXED:
                    self.model.set_adapter(want, inference_mode=True)
            self.adapter_state = want
        return {"adapter_names": [a or BASE for a in adapters]} if want == MIXED else {}

    def _forward(self, ids, mask, positions, cache, adapters: list[str | None]):
        kwargs = self._adapters_use(adapters) if self.has_adapters else {}
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True,
                         logits_to_keep=1, **kwargs)
        return out.logits[:, -1, :], out.cache

    def _admit(self, newcomers: list[GenerationRequest]) -> None:
        """Prefill the newcomers together and merge them into the running batch."""
        import torch
        from transformers import DynamicCache

        if not newcomers:
            return
        width = max(len(r.prompt_ids) for r in newcomers)
        ids = torch.full((len(newcomers), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(newcomers), width), dtype=torch.long)
        for i, row in enumerate(newcomers):
            ids[i, width - len(row.prompt_ids):] = torch.tensor(row.prompt_ids)
            mask[i, width - len(row.prompt_ids):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits, cache = self._forward(ids, mask, positions, DynamicCache(), [r.adapter for r in newcomers])
        last = self._sample(logits, newcomers)
        lengths = mask.sum(-1)
        if self._rows:
            self._cache, self._mask = _merge(self._cache, self._mask, cache, mask)
            self._last = torch.cat([self._last, last])
            self._positions = torch.cat([self._positions, lengths])
        else:
            self._cache, self._mask, self._last, self._positions = cache, mask, last, lengths
        start = len(self._rows)
        self._rows += newcomers
        self.peak_running = max(self.peak_running, len(self._rows))
        self._emit_and_retire(last, start=start)

    def _step(self) -> None:
        import torch

        self._mask = torch.cat([self._mask, torch.ones((len(self._rows), 1), dtype=torch.long)], dim=1)
        logits, self._cache = self._forward(self._last[:, None], self._mask, self._positions[:, None], self._cache,
                                            [r.adapter for r in self._rows])
        self._positions = self._positions + 1
        self._last = self._sample(logits, self._rows)
        self._emit_and_retire(self._last)

    def _sample(self, logits, rows: list[GenerationRequest]):
        import torch

        tokens = logits.argmax(-1)
        for i, row in enumerate(rows):
            if row.temperature > 0:
                probs = torch.softmax(logits[i].float() / row.temperature, dim=-1)
                if row.top_p < 1.0:
                    sorted_probs, order = probs.sort(descending=True)
                    keep = sorted_probs.cumsum(-1) - sorted_probs < row.top_p  # the first token always stays
                    probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
                tokens[i] = torch.multinomial(probs, 1)[0]
        return tokens

    def _emit_and_retire(self, tokens, *, start: int = 0) -> None:
        """Hand each row (from ``start`` on) its new token; drop the rows that are finished."""
        now = time.monotonic()
        keep = list(range(start))
        for i, (row, token) in enumerate(zip(self._rows[start:], tokens.tolist(), strict=True), start=start):
            reason = None
            if row.cancelled.is_set():
                reason = "cancelled"
            elif token in self.stop_ids and not row.ignore_eos:
                reason = "stop"
            else:
                row.generated.append(token)
                row.first_token_at = row.first_token_at or now
                self._emit_text(row)
                if len(row.generated) >= row.max_tokens or now >= row.deadline:
                    reason = "length"
            if reason is None:
                keep.append(i)
            elif reason != "cancelled":
                row.emit("done", reason)
        if len(keep) < len(self._rows):
            self._retain(keep)

    def _emit_text(self, row: GenerationRequest) -> None:
        text = self.tokenizer.decode(row.generated, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest of it
            return
        if len(text) > len(row.text) and text.startswith(row.text):
            row.emit("delta", text[len(row.text):])
            row.text = text

    def _retain(self, keep: list[int]) -> None:
        import torch

        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = self._last = self._positions = None
            return
        index = torch.tensor(keep, dtype=torch.long)
        self._mask, self._last, self._positions = self._mask[index], self._last[index], self._positions[index]
        self._cache.batch_select_indices(index)
        first = int(self._mask.any(0).nonzero()[0])  # columns that are padding for every row left
        if first > 0:
            self._mask = self._mask[:, first:]
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]


def _merge(cache_a, mask_a, cache_b, mask_b):
    """Concatenate two batches' caches along the batch, left-padding the shorter one."""
    import torch
    import torch.nn.functional as F

    width = max(mask_a.shape[1], mask_b.shape[1])

    def pad(t, dim_from_end):  # left-pad the sequence dimension with zeros
        missing = width - t.shape[-dim_from_end]
        if missing == 0:
            return t
        spec = [0, 0] * (dim_from_end - 1) + [missing, 0]
        return F.pad(t, spec)

    for la, lb in zip(cache_a.layers, cache_b.layers, strict=True):
        la.keys = torch.cat([pad(la.keys, 2), pad(lb.keys, 2)])
        la.values = torch.cat([pad(la.values, 2), pad(lb.values, 2)])
    return cache_a, torch.cat([pad(mask_a, 1), pad(mask_b, 1)])


def _stop_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _run_command(fn, future: Future) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn())
    except BaseException as exc:  # reported to the caller, the engine goes on
        future.set_exception(exc)
