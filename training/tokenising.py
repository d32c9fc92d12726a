"""Conversations to token ids with an assistant-only loss mask. No Django; the tokenizer is
passed in (transformers is imported by the caller).

Loss is on assistant turns only. A chat template with ``{% generation %}`` markers gives the
assistant mask directly (``return_assistant_tokens_mask``); for templates without them, the
mask is computed from character spans of rendered prefixes (``assistant_mask_from_prefixes``).
"""

from __future__ import annotations

import re

from training.errors import PipelineError

IGNORE_INDEX = -100


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
