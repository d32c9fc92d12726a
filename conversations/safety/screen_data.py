"""The screen's labelled data: where each set lives, and what training may read.

Training reads ``data/train.jsonl`` (the first hand-written exemplars), ``data/train_short.jsonl``
(short conversational messages, none), the four
``data/train_batches/batch_*.jsonl`` (written apart by four authors from
docs/safety-labelling.md) and clinicians' feedback (``ScreeningExample``, read from the
database when training runs). Never the evaluation sets: ``eval.jsonl``, the probe sets, and
``eval_blind/`` (written blind by two other authors, measured once by bench/safety_eval.py).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
TRAIN_PATH = DATA_DIR / "train.jsonl"
# Short conversational messages ("go on", "see you tomorrow", "I take my meds at night"), none, some
# after harmless context: written by the screen's developer when a model trained without them
# gave such messages crisis with no context at all (docs/safety.md). No evaluation text.
TRAIN_SHORT_PATH = DATA_DIR / "train_short.jsonl"
BATCH_DIR = DATA_DIR / "train_batches"
EVAL_PATH = DATA_DIR / "eval.jsonl"
PROBE_PATH = DATA_DIR / "probe.jsonl"  # new phrasings, used while writing the 2026-11-30 rules
PROBE_UNSEEN_PATH = DATA_DIR / "probe_unseen.jsonl"  # written after those rules, measured once
BLIND_DIR = DATA_DIR / "eval_blind"
EVALUATION_PATHS = (EVAL_PATH, PROBE_PATH, PROBE_UNSEEN_PATH)
FEEDBACK = "clinician_feedback"


def load_examples(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def training_files() -> dict[str, Path]:
    """Name (relative to ``data/``) -> path of every file training reads."""
    files = [TRAIN_PATH, TRAIN_SHORT_PATH, *sorted(BATCH_DIR.glob("batch_*.jsonl"))]
    return {str(path.relative_to(DATA_DIR)): path for path in files}


def summary(name: str, examples: list[dict], sha256: str) -> dict:
    """Counts (and a hash, never text) of one source, for the model's manifest."""
    return {
        "name": name, "sha256": sha256, "count": len(examples),
        "levels": dict(sorted(Counter(e["level"] for e in examples).items())),
        "categories": dict(sorted(Counter(e["category"] for e in examples).items())),
        "with_context": sum(bool(e.get("context")) for e in examples),
    }


def _feedback_hash(records: list[dict]) -> str:
    """Of the examples' ids, labels and label times: which feedback went in, without its text."""
    keys = [(r["id"], r["level"], r["category"], r["labelled"]) for r in records]
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()


def training_data(*, holdout: str | None = None, feedback: bool = True) -> tuple[list[dict], list[dict], list[dict]]:
    """(training examples, per-source summaries, held-out examples). ``holdout``: a name from
    ``training_files()`` kept out of training, for measuring on it (development runs)."""
    files = training_files()
    if holdout is not None and holdout not in files:
        raise ValueError(f"--holdout must be one of {', '.join(files)}")
    examples, summaries, held_out = [], [], []
    for name, path in files.items():
        rows = [{**row, "source": name} for row in load_examples(path)]
        if name == holdout:
            held_out = rows
            continue
        examples.extend(rows)
        summaries.append(summary(name, rows, hashlib.sha256(path.read_bytes()).hexdigest()))
    if feedback:
        from conversations.safety.feedback import screening_examples_for_training

        records = screening_examples_for_training()
        examples.extend(records)
        summaries.append({**summary(FEEDBACK, records, _feedback_hash(records)),
                          "example_ids": [r["id"] for r in records]})
    return examples, summaries, held_out


def evaluation_sets() -> dict[str, list[dict]]:
    """The project's own evaluation sets (not the blind ones), for training reports."""
    return {path.stem: load_examples(path) for path in EVALUATION_PATHS}
