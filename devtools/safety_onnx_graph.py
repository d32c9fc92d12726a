"""Build the onnxruntime graphs of MiniLM that the safety screen runs on, without weights.

    pip install onnx   # once, on a developer machine: the web process never needs it
    python -m devtools.safety_onnx_graph

Writes ``conversations/safety/data/runtime/minilm-{fp32,int8}.onnx`` and a ``.json`` beside
each: the BERT graph (6 layers, dynamic batch and length) with every weight marked *external*
and emptied, and which base-model tensor each weight comes from (``raw``, ``transpose``, or,
in the int8 graph, the ``int8`` values / ``scale`` / ``zero_point`` of a per-column symmetric
quantisation of the transposed matrix). The screen fills them in at load time from the merged
(base + fine-tuned) float32 weights (``conversations/safety/onnx_encoder.py``), so the graphs
are the same for every screening model version and weigh ~250 KB each. Rebuild them only when
the architecture changes (another base model, another opset).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "conversations" / "safety" / "data" / "runtime"
OPSET = 17


def _export_fp32(path: Path):
    import torch
    from transformers import AutoModel

    from conversations.safety.embedding import model_path

    bert = AutoModel.from_pretrained(str(model_path()), add_pooling_layer=False).eval()

    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.full((2, 16), 2000, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(Hidden(), (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["hidden"], opset_version=OPSET, dynamo=False,
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes})
    return {k.removeprefix("bert."): v.detach().numpy() for k, v in bert.state_dict().items()}


def _sources(graph, state: dict) -> dict[str, dict]:
    """Which base tensor each initializer of the float32 graph is (matrices matched by value)."""
    import numpy as np
    from onnx import numpy_helper

    found = {}
    for init in graph.initializer:
        value = numpy_helper.to_array(init)
        if init.name.startswith("bert."):
            found[init.name] = {"source": init.name.removeprefix("bert."), "kind": "raw"}
        elif value.ndim == 2:
            match = [k for k, v in state.items() if v.shape == value.T.shape and np.array_equal(v.T, value)]
            if len(match) != 1:
                raise RuntimeError(f"initializer {init.name} matches {match}")
            found[init.name] = {"source": match[0], "kind": "transpose"}
    return found


def _strip(model, mapping: dict[str, dict], path: Path) -> str:
    import onnx

    for init in model.graph.initializer:
        if init.name in mapping:
            for name in ("raw_data", "float_data", "int32_data", "int64_data"):
                init.ClearField(name)
            init.data_location = onnx.TensorProto.EXTERNAL
            del init.external_data[:]
            for key, value in (("location", "supplied-at-load"), ("offset", "0"), ("length", "0")):
                entry = init.external_data.add()
                entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        state = _export_fp32(fp32)
        fp32_model = onnx.load(str(fp32))
        sources = _sources(fp32_model.graph, state)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        int8_model = onnx.load(str(int8))
        int8_sources = {}
        for init in int8_model.graph.initializer:
            if init.name in sources:
                int8_sources[init.name] = sources[init.name]
            for suffix, kind in (("_quantized", "int8"), ("_scale", "scale"), ("_zero_point", "zero_point")):
                stem = init.name.removesuffix(suffix)
                if init.name.endswith(suffix) and sources.get(stem, {}).get("kind") == "transpose":
                    int8_sources[init.name] = {"source": sources[stem]["source"], "kind": kind}
        for name, model, mapping in (("fp32", fp32_model, sources), ("int8", int8_model, int8_sources)):
            graph_path = OUT / f"minilm-{name}.onnx"
            digest = _strip(model, mapping, graph_path)
            spec = {"graph": graph_path.name, "sha256": digest, "opset": OPSET, "inputs": ["input_ids", "attention_mask"],
                    "output": "hidden", "initializers": mapping}
            (OUT / f"minilm-{name}.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
            print(f"wrote {graph_path} ({graph_path.stat().st_size / 1024:.0f} KB, {len(mapping)} weights supplied at load)")


if __name__ == "__main__":
    main()
