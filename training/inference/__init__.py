"""The local inference server: one base model, PEFT model versions, OpenAI-compatible HTTP.

Why its own process: the web process must start fast and never import torch (STYLE.md), the
model must be loaded once rather than per web worker, and the same HTTP contract is what vLLM
(``--enable-lora``) speaks on GPU hosts, so the web side has one provider for both.

    python -m training.inference [--host 127.0.0.1] [--port 8766] [--storage-dir DIR] [--base-model DIR]

``create_app(ServerConfig(...))`` builds the ASGI app (tests, a management command). No Django
here; torch/transformers/peft are imported when the app is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _default_base_model() -> str:
    return os.environ.get("BASE_MODEL") or str(Path(os.environ.get("DATA_DIR") or "var") / "base_model")


@dataclass
class ServerConfig:
    """Settings of one server; every field has an environment variable (``from_env``)."""

    host: str = "127.0.0.1"
    port: int = 8766
    storage_dir: Path = Path("trained_models")  # MODEL_STORAGE_DIR: the model versions
    base_model: Path = field(default_factory=lambda: Path(_default_base_model()))
    max_tokens: int = 512  # cap on a reply's tokens (a request may ask for fewer)
    timeout: float = 30.0  # seconds from a request's arrival to its cut (finish_reason "length")
    max_batch: int = 8  # chats decoded together
    batch_wait: float = 0.005  # seconds an idle engine waits for company before a prefill
    max_waiting: int = 256  # queued requests beyond this get 503
    api_key: str | None = None  # when set, requests need "Authorization: Bearer <api_key>"
    dtype: str = "auto"  # auto (bf16 on CPUs with native bf16, else fp32) | float32 | bfloat16
    threads: int = 0  # torch CPU threads; 0: torch's default

    @classmethod
    def from_env(cls) -> ServerConfig:
        return cls(
            host=os.environ.get("INFERENCE_HOST") or cls.host,
            port=_env_int("INFERENCE_PORT", cls.port),
            storage_dir=Path(os.environ.get("MODEL_STORAGE_DIR") or cls.storage_dir),
            base_model=Path(_default_base_model()),
            max_tokens=_env_int("INFERENCE_MAX_TOKENS", cls.max_tokens),
            timeout=_env_float("INFERENCE_TIMEOUT", cls.timeout),
            max_batch=_env_int("INFERENCE_MAX_BATCH", cls.max_batch),
            max_waiting=_env_int("INFERENCE_MAX_WAITING", cls.max_waiting),
            api_key=os.environ.get("INFERENCE_API_KEY") or None,
            dtype=os.environ.get("INFERENCE_DTYPE") or cls.dtype,
            threads=_env_int("INFERENCE_THREADS", cls.threads),
        )


def create_app(config: ServerConfig):
    from training.inference.app import create_app as create

    return create(config)


__all__ = ["ServerConfig", "create_app"]
