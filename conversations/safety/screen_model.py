"""The screening model in the web process: a verified, versioned artefact, run without torch.

An artefact is a folder (``data/screen_model/`` ships with the code; ``SAFETY_SCREEN_MODEL_DIR``
points elsewhere, e.g. a version the training worker wrote):

- ``adapter.safetensors``: the fine-tuning (LoRA factors in float16, biases, LayerNorms, heads);
- ``report.json``: its evaluation at training time;
- ``manifest.json``: version, sha256 and size of every file, the base model's sha256, the
  training data (per source: sha256, counts), hyper-parameters, thresholds.

Loading verifies all of it first: a file that does not match its hash, a missing file or a
different base model is refused (``ArtefactError``, logged as an error once per process) and
the screen degrades to the rules and at least ``concern`` (``screening.screen_input``).
The factors are merged into the base weights (``W + scale * B @ A``, float32), which run on
onnxruntime (int8, default when installed) or on the numpy encoder (``SAFETY_SCREEN_RUNTIME``).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from conversations.safety.screen_inputs import (
    LEVELS,
    RISK_CATEGORIES,
    InputBuilder,
    ModelInput,
    load_tokenizer,
)
from therapist_ai.files import file_sha256

FORMAT = "therapist-ai/safety-screen/1"
SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "screen_model"
RUNTIMES = ("auto", "onnx-int8", "onnx-fp32", "numpy")
ADAPTER, REPORT, MANIFEST = "adapter.safetensors", "report.json", "manifest.json"

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_model: ScreenModel | None = None
_failure: Exception | None = None


class ArtefactError(Exception):
    """The screening model's artefact is missing, incomplete, altered or for another base model."""


def artefact_verify(path: Path, *, base: bool = True) -> dict:
    """The manifest, once every file it lists (and, with ``base``, the installed base model:
    90 MB, ~0.2 s) matches its sha256."""
    from conversations.safety.embedding import model_path

    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ArtefactError(f"{path / MANIFEST}: not readable ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ArtefactError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    files = manifest.get("files") or {}
    for required in (ADAPTER, REPORT):
        if required not in files:
            raise ArtefactError(f"{path}: the manifest lists no {required}")
    for name, entry in files.items():
        target = path / name
        if Path(name).name != name or not target.is_file():
            raise ArtefactError(f"{path}: {name} is missing")
        if target.stat().st_size != entry.get("bytes") or file_sha256(target) != entry.get("sha256"):
            raise ArtefactError(f"{path}: {name} does not match the sha256 in its manifest (altered or damaged)")
    expected = manifest.get("base_model") or {}
    if base and file_sha256(model_path() / "model.safetensors") != expected.get("sha256"):
        raise ArtefactError(f"{path}: trained on another base model than the installed {expected.get('package')}")
    return manifest


def merged_weights(adapter: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    """Base weights with the fine-tuning applied: low-rank updates added, biases and
    LayerNorms replaced."""
    from conversations.safety.embedding import base_weights

    weights = base_weights()
    for name, value in adapter.items():
        if name.startswith("head."):
            continue
        if name.endswith(".lora_a"):
            stem = name.removesuffix(".lora_a")
            b = adapter[stem + ".lora_b"].astype(np.float32)
            weights[stem + ".weight"] = weights[stem + ".weight"] + np.float32(scale) * (b @ value.astype(np.float32))
        elif not name.endswith(".lora_b"):
            if weights[name].shape != value.shape:
                raise ArtefactError(f"{name}: shape {value.shape}, the base model has {weights[name].shape}")
            weights[name] = value.astype(np.float32)
    return weights


def _runtime(requested: str) -> str:
    from conversations.safety import onnx_encoder

    if requested not in RUNTIMES:
        raise ArtefactError(f"SAFETY_SCREEN_RUNTIME={requested!r}: one of {', '.join(RUNTIMES)}")
    if requested == "auto":
        return "onnx-int8" if onnx_encoder.available() else "numpy"
    return requested


class ScreenModel:
    def __init__(self, path: Path, runtime: str = "auto"):
        from safetensors.numpy import load_file

        from conversations.safety.embedding import MiniLMEncoder, model_path

        self.path = Path(path)
        self.manifest = artefact_verify(self.path)
        self.version = self.manifest["version"]
        self.thresholds = dict(self.manifest["thresholds"])
        adapter = load_file(str(self.path / ADAPTER))
        self.level_w, self.level_b = adapter["head.level.weight"].T.copy(), adapter["head.level.bias"]
        self.category_w, self.category_b = adapter["head.category.weight"].T.copy(), adapter["head.category.bias"]
        weights = merged_weights(adapter, float(self.manifest["training"]["config"]["lora_alpha"])
                                 / float(self.manifest["training"]["config"]["lora_r"]))
        self.runtime = _runtime(runtime)
        self.builder = InputBuilder(load_tokenizer(model_path()))
        if self.runtime == "numpy":
            self.encoder = MiniLMEncoder(weights=weights)
        else:
            from conversations.safety.onnx_encoder import OnnxEncoder

            self.encoder = OnnxEncoder(weights, self.runtime)

    def inputs(self, items: list[tuple[str, list[str]]]) -> list[ModelInput]:
        return self.builder.build(items)

    def probabilities(self, inputs: list[ModelInput]) -> tuple[np.ndarray, np.ndarray]:
        """(P(level) rows over ``LEVELS``, P(category | risk) rows over ``RISK_CATEGORIES``)."""
        vectors = self.encoder.pooled(inputs)
        return _softmax(vectors @ self.level_w + self.level_b), _softmax(vectors @ self.category_w + self.category_b)

    def level_of(self, level_probs: np.ndarray) -> str:
        """The verdict of one row: crisis, concern or none, by the manifest's thresholds."""
        if level_probs[2] >= self.thresholds["crisis"]:
            return LEVELS[2]
        if level_probs[1] + level_probs[2] >= self.thresholds["risk"]:
            return LEVELS[1]
        return LEVELS[0]

    @staticmethod
    def category_of(category_probs: np.ndarray) -> str:
        return RISK_CATEGORIES[int(category_probs.argmax())]


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(-1, keepdims=True)


def configured() -> tuple[Path, str]:
    from django.conf import settings

    folder = getattr(settings, "SAFETY_SCREEN_MODEL_DIR", "") or SHIPPED_DIR
    return Path(folder), getattr(settings, "SAFETY_SCREEN_RUNTIME", "auto") or "auto"


def get_screen_model() -> ScreenModel:
    """The process's screening model (loaded and verified on first use). An artefact that
    fails verification is refused once, loudly, and every later call raises at once."""
    global _model, _failure
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            if _failure is not None:
                raise _failure
            path, runtime = configured()
            try:
                _model = ScreenModel(path, runtime)
            except Exception as exc:
                _failure = exc if isinstance(exc, ArtefactError) else ArtefactError(f"{path}: {exc!r}")
                logger.error("Safety screening model REFUSED (%s); screening with the rules only, at least "
                             "concern, until it is fixed and the process restarts", _failure)
                raise _failure from exc
            logger.info("Safety screening model %s loaded from %s (%s)", _model.version, path, _model.runtime)
            _heap_release()
    return _model


def _heap_release() -> None:
    """Give back to the system the ~50 MB that merging the weights used and freed (glibc keeps
    freed memory otherwise: every web worker would carry it)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def screen_model_reset() -> None:
    """Forget the loaded model and any refusal (tests; a deployment restarts instead)."""
    global _model, _failure
    with _lock:
        _model, _failure = None, None


def screen_model_status() -> dict:
    """What screens now, for the admin: version, runtime, data, thresholds, or why refused."""
    path, runtime = configured()
    try:
        model = get_screen_model()
    except Exception as exc:
        return {"state": "refused", "error": str(exc), "path": str(path), "runtime": runtime}
    manifest = model.manifest
    report = json.loads((model.path / REPORT).read_text())
    return {"state": "screening", "version": model.version, "path": str(model.path), "runtime": model.runtime,
            "created_at": manifest.get("created_at", ""), "thresholds": model.thresholds,
            "data": manifest.get("data", {}), "training": manifest.get("training", {}), "report": report,
            "files": manifest.get("files", {})}
