"""MiniLM on onnxruntime: the screening model's encoder in the web process, no torch.

The graphs (``data/runtime/minilm-{int8,fp32}.onnx``, built once by
``devtools/safety_onnx_graph.py``) hold no weights: every weight is supplied at load from the
merged float32 tensors (base model + the screening model's fine-tuning), through
``SessionOptions.add_external_initializers``. In the int8 graph the matrix products are
``MatMulInteger`` on per-column symmetric int8 weights quantised here (activations are
quantised per call by the graph): about 3x faster than the numpy encoder on one core here.
One intra-op thread, as the numpy encoder: web workers already share the cores.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

RUNTIME_DIR = Path(__file__).resolve().parent / "data" / "runtime"
GRAPHS = {"onnx-int8": "minilm-int8", "onnx-fp32": "minilm-fp32"}


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _quantise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column symmetric int8 of an (in, out) matrix: values and scales (zero points 0)."""
    scale = np.abs(matrix).max(axis=0) / np.float32(127.0)
    scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    return np.clip(np.rint(matrix / scale), -127, 127).astype(np.int8), scale


def _initializers(spec: dict, weights: dict[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    names, values, quantised = [], [], {}
    for name, entry in sorted(spec["initializers"].items()):
        source, kind = weights[entry["source"]], entry["kind"]
        if kind == "raw":
            value = source
        elif kind == "transpose":
            value = source.T
        else:
            if entry["source"] not in quantised:
                quantised[entry["source"]] = _quantise(np.ascontiguousarray(source.T))
            q, scale = quantised[entry["source"]]
            value = {"int8": q, "scale": scale, "zero_point": np.zeros(scale.shape, dtype=np.int8)}[kind]
        names.append(name)
        values.append(np.ascontiguousarray(value))
    return names, values


class OnnxEncoder:
    def __init__(self, weights: dict[str, np.ndarray], runtime: str = "onnx-int8", threads: int = 1):
        import onnxruntime as ort

        stem = GRAPHS[runtime]
        spec = json.loads((RUNTIME_DIR / f"{stem}.json").read_text())
        graph = (RUNTIME_DIR / spec["graph"]).read_bytes()
        if hashlib.sha256(graph).hexdigest() != spec["sha256"]:
            raise RuntimeError(f"{spec['graph']} does not match its sha256 in {stem}.json")
        names, arrays = _initializers(spec, weights)
        self._arrays = arrays  # onnxruntime reads them in place: they must outlive the session
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(a) for a in arrays])
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.runtime = runtime
        self.hidden = int(weights["embeddings.word_embeddings.weight"].shape[1])

    def pooled(self, inputs: list, batch_size: int = 16) -> np.ndarray:
        """Message vectors of ``screen_inputs.ModelInput`` rows (padded batches of similar length)."""
        out = np.empty((len(inputs), self.hidden), dtype=np.float32)
        for rows in _length_groups([len(x.ids) for x in inputs], batch_size):
            width = max(len(inputs[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(inputs[i].ids)] = inputs[i].ids
                mask[r, : len(inputs[i].ids)] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            for r, i in enumerate(rows):
                out[i] = hidden[r, inputs[i].pool_start : len(inputs[i].ids)].mean(0)
        return out


# Padding is computed like real tokens: a long message's first window (read after the context) can
# be twice as long as its other windows, so one padded batch nearly doubled the work (bench/safety_eval.py,
# 900-1,000 characters). A run costs ~0.1 ms of overhead, a padded token ~0.2 ms.
PADDING_WASTE_MAX = 1.25


def _length_groups(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices in batches of similar length: sorted, and a new batch whenever the next row
    would be padded past ``PADDING_WASTE_MAX`` times the batch's shortest row."""
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if groups and len(groups[-1]) < batch_size and lengths[i] <= PADDING_WASTE_MAX * lengths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
