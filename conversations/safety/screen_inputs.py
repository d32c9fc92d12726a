"""What the screening model reads: labels, and the token ids of a message with its context.

Shared by training (torch, the training worker) and screening (numpy or onnxruntime, the web
process), so that both build exactly the same input. No torch, no Django here.

One input is ``[CLS] context [SEP] ... message [SEP]``: up to ``CONTEXT_MESSAGES`` earlier
patient messages of the conversation (oldest first, each ended by ``[SEP]``, the last
``CONTEXT_TOKENS`` tokens of them kept), then the message. The model's pooled vector is the
mean over the *message's* tokens only (and its final ``[SEP]``): the context changes what the
message's tokens mean through attention, but the verdict is about the message, so an earlier
risky message does not by itself make a harmless one look risky.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from conversations.safety.defaults import CATEGORIES

LEVELS = ("none", "concern", "crisis")  # the level head's classes, in order
RISK_CATEGORIES = CATEGORIES  # the category head's classes (risk examples only)
CONTEXT_MESSAGES = 3
CONTEXT_TOKENS = 48
MESSAGE_TOKENS = 128  # longer messages: cut in training; chunked by sentence when screening


class ModelInput(NamedTuple):
    ids: list[int]
    pool_start: int  # the message's first token; pooling covers ids[pool_start:]


def load_tokenizer(base_path: Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(base_path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class InputBuilder:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.cls = tokenizer.token_to_id("[CLS]")
        self.sep = tokenizer.token_to_id("[SEP]")

    def _pieces(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def build(self, items: Sequence[tuple[str, Sequence[str]]], message_tokens: int = MESSAGE_TOKENS) -> list[ModelInput]:
        """``items``: (message, earlier messages oldest first) pairs, texts already normalised."""
        flat, spans = [], []
        for text, context in items:
            context = list(context)[-CONTEXT_MESSAGES:]
            spans.append((len(flat), len(context)))
            flat.extend([*context, text])
        pieces = self._pieces(flat)
        out = []
        for start, n_context in spans:
            context_ids: list[int] = []
            for piece in pieces[start : start + n_context]:
                context_ids.extend([*piece, self.sep])
            context_ids = context_ids[-CONTEXT_TOKENS:] if n_context else []
            message = pieces[start + n_context][:message_tokens]
            out.append(ModelInput([self.cls, *context_ids, *message, self.sep], 1 + len(context_ids)))
        return out


def label_index(example: dict) -> tuple[int, int]:
    """(level class, category class or -1 for none) of a labelled example."""
    level = LEVELS.index(example["level"])
    category = RISK_CATEGORIES.index(example["category"]) if level else -1
    return level, category
