"""A small risk classifier on MiniLM embeddings: multinomial logistic regression in numpy.

Trained on ``data/train.jsonl`` (hand-written exemplars, never the evaluation set) and
shipped as ``data/classifier.npz``; ``python manage.py safety_train_classifier`` rebuilds
it deterministically (full-batch gradient descent from zeros: same data, same weights).
Classes: ``none`` and the five risk categories.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conversations.safety.defaults import CATEGORIES

DATA_DIR = Path(__file__).resolve().parent / "data"
TRAIN_PATH = DATA_DIR / "train.jsonl"
EVAL_PATH = DATA_DIR / "eval.jsonl"
PROBE_PATH = DATA_DIR / "probe.jsonl"  # new phrasings, held out from the exemplars (README: used for the rules)
PROBE_UNSEEN_PATH = DATA_DIR / "probe_unseen.jsonl"  # written after the 2026-11-30 rules and exemplars
WEIGHTS_PATH = DATA_DIR / "classifier.npz"
CLASSES = ("none", *CATEGORIES)

_lock = threading.Lock()
_classifier: RiskClassifier | None = None


def load_examples(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass
class RiskClassifier:
    weights: np.ndarray  # (384, n_classes)
    bias: np.ndarray  # (n_classes,)
    exemplars: np.ndarray  # (n_risk, 384) normalised embeddings of the risk exemplars
    exemplar_texts: list[str]

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.weights + self.bias
        logits -= logits.max(-1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(-1, keepdims=True)

    def nearest_exemplar(self, embedding: np.ndarray) -> tuple[str, float]:
        sims = self.exemplars @ embedding
        i = int(sims.argmax())
        return self.exemplar_texts[i], float(sims[i])

    def save(self, path: Path = WEIGHTS_PATH) -> None:
        np.savez_compressed(
            path,
            weights=self.weights,
            bias=self.bias,
            exemplars=self.exemplars.astype(np.float16),
            exemplar_texts=np.array(self.exemplar_texts),
        )

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> RiskClassifier:
        data = np.load(path)
        return cls(
            weights=data["weights"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
            exemplars=data["exemplars"].astype(np.float32),
            exemplar_texts=[str(t) for t in data["exemplar_texts"]],
        )


def fit(x: np.ndarray, labels: list[str], *, l2: float = 1e-3, steps: int = 2000, lr: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch gradient descent on softmax cross-entropy from zeros. "none" and "any risk"
    weigh half each in total, and the risk categories share their half equally, whatever
    their counts (so the most-written category does not swallow the others)."""
    y = np.array([CLASSES.index(label) for label in labels])
    n, k = len(y), len(CLASSES)
    onehot = np.eye(k, dtype=np.float64)[y]
    counts = np.maximum(onehot.sum(0), 1)
    class_w = np.concatenate([[0.5 * n / counts[0]], 0.5 * n / ((k - 1) * counts[1:])])
    sample_w = class_w[y][:, None]
    w = np.zeros((x.shape[1], k))
    b = np.zeros(k)
    x64 = x.astype(np.float64)
    for _ in range(steps):
        logits = x64 @ w + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        grad = (p - onehot) * sample_w / n
        w -= lr * (x64.T @ grad + l2 * w)
        b -= lr * grad.sum(0)
    return w.astype(np.float32), b.astype(np.float32)


def train(examples: list[dict] | None = None, encoder=None) -> RiskClassifier:
    from conversations.safety.embedding import get_encoder

    examples = examples if examples is not None else load_examples(TRAIN_PATH)
    encoder = encoder or get_encoder()
    from conversations.safety.rules import RuleSet, default_rules, normalise

    # The classifier sees what it will see in service: text with idioms/negations blanked.
    rules = RuleSet(default_rules())
    x = encoder.encode([rules.mask(normalise(e["text"])) for e in examples])
    w, b = fit(x, [e["category"] for e in examples])
    risk = [i for i, e in enumerate(examples) if e["category"] != "none"]
    return RiskClassifier(w, b, x[risk], [examples[i]["text"] for i in risk])


def get_classifier() -> RiskClassifier:
    """The shipped classifier, loaded once per process (trained now if the file is missing)."""
    global _classifier
    if _classifier is None:
        with _lock:
            if _classifier is None:
                _classifier = RiskClassifier.load() if WEIGHTS_PATH.exists() else train()
    return _classifier
