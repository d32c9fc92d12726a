"""Model versions the server may answer with: verified, matched to the base, then hot-loaded.

Why so strict: a model version answers patients. A folder is served only when its
``manifest.json`` verifies (every file present with its sha256, ``training.storage``) and
it was trained on the base model this server holds; anything else is refused with the
reason, remembered in ``/health``, and never reaches the model. Verification (hashing) runs
off the engine thread; the PEFT load itself is an engine command, between decode steps.

Base match: the manifest's ``base_model_fingerprint`` when it has one (the weights' sha256
from the base's marker, see ``training.base_models.base_fingerprint``), else its
``base_model`` path: the same path as the server's, or a path on this host whose
fingerprint equals the server's base.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

from training import storage
from training.base_models import base_fingerprint

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
BASE_NAME = "base"


class VersionError(Exception):
    """A version cannot serve. ``status`` 404: unknown; 422: refused; 400: bad request."""

    def __init__(self, message: str, *, status: int, code: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class LoadedVersion:
    name: str
    path: Path
    manifest: dict
    loaded_at: float
    load_seconds: float
    parameter_bytes: int

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.path), "loaded_at": int(self.loaded_at),
                "load_seconds": round(self.load_seconds, 3), "adapter_bytes": self.parameter_bytes,
                "training_run_id": self.manifest.get("training_run_id")}


class Versions:
    def __init__(self, engine, *, storage_dir: Path, base_dir: Path):
        self.engine = engine
        self.storage_dir = Path(storage_dir).resolve()
        self.base_dir = Path(base_dir).resolve()
        self.base_fingerprint = base_fingerprint(self.base_dir)
        self.loaded: dict[str, LoadedVersion] = {}
        self.refused: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure(self, name: str) -> None:
        """The version is loaded after this returns; on-demand load from the storage directory."""
        if name == BASE_NAME or name in self.loaded:
            return
        if name in self.refused:
            raise VersionError(f"model version {name} was refused: {self.refused[name]}", status=422,
                               code="model_refused")
        await self.load(name, None)

    async def load(self, name: str, path: str | None) -> LoadedVersion:
        if not NAME_PATTERN.match(name or "") or name == BASE_NAME:
            raise VersionError(f"invalid model version name {name!r}", status=400, code="invalid_name")
        directory = self._directory(name, path)
        async with self._locks.setdefault(name, asyncio.Lock()):
            if name in self.loaded:
                if self.loaded[name].path == directory:
                    return self.loaded[name]
                raise VersionError(f"a different {name} is loaded; unload it first", status=400,
                                   code="already_loaded")
            manifest = await asyncio.to_thread(self._verify, name, directory)
            started = time.monotonic()
            future = self.engine.call(lambda: _adapter_load(self.engine, name, directory))
            try:
                nbytes = await asyncio.wrap_future(future)
            except Exception as exc:  # PEFT refuses mismatching shapes, missing modules, bad config
                raise self._refuse(name, f"the adapter does not load on this base: {type(exc).__name__}: {exc}") from exc
            version = LoadedVersion(name, directory, manifest, time.time(), time.monotonic() - started, nbytes)
            self.loaded[name] = version
            self.refused.pop(name, None)
            return version

    async def unload(self, name: str) -> None:
        if name not in self.loaded:
            raise VersionError(f"model version {name} is not loaded", status=404, code="model_not_found")
        async with self._locks.setdefault(name, asyncio.Lock()):
            await asyncio.wrap_future(self.engine.call(lambda: _adapter_unload(self.engine, name)))
            self.loaded.pop(name, None)

    def _directory(self, name: str, path: str | None) -> Path:
        directory = Path(path).resolve() if path else (self.storage_dir / name).resolve()
        if self.storage_dir not in directory.parents or directory.name.startswith("."):
            # a staging directory (.tmp-run...) is a run still writing, not a version
            raise VersionError(f"{directory} is not a version folder inside the model storage directory "
                               f"{self.storage_dir}", status=400, code="path_outside_storage")
        if not directory.is_dir():
            raise VersionError(f"the model `{name}` does not exist", status=404, code="model_not_found")
        return directory

    def _verify(self, name: str, directory: Path) -> dict:
        ok, reason = storage.manifest_verify(directory)
        if not ok:
            raise self._refuse(name, reason)
        manifest = storage.manifest_read(directory)
        ok, reason = self.base_matches(manifest)
        if not ok:
            raise self._refuse(name, reason)
        if not (directory / "adapter_config.json").is_file():
            raise self._refuse(name, "adapter_config.json is missing: not a PEFT adapter")
        return manifest

    def base_matches(self, manifest: dict) -> tuple[bool, str]:
        wanted_fp = manifest.get("base_model_fingerprint")
        if wanted_fp:
            if wanted_fp == self.base_fingerprint:
                return True, ""
            return False, "trained on another base model (fingerprint differs from the served base)"
        base = manifest.get("base_model")
        if not base:
            return False, "the manifest does not say which base model it was trained on"
        path = Path(base)
        if path.resolve() == self.base_dir:
            return True, ""
        try:
            if path.is_dir() and base_fingerprint(path) == self.base_fingerprint:
                return True, ""
        except OSError:
            pass
        return False, f"trained on base model {base}, this server serves {self.base_dir}"

    def _refuse(self, name: str, reason: str) -> VersionError:
        self.refused[name] = reason
        return VersionError(f"model version {name} was refused: {reason}", status=422, code="model_refused")


def _adapter_load(engine, name: str, directory: Path) -> int:
    """On the engine thread: add the adapter (wrapping the base in a PeftModel the first time).

    A load that fails leaves no trace: an adapter PEFT injected but could not fill is deleted,
    and a first wrapping that failed is unwrapped, so the base answers exactly as before.
    """
    from peft import PeftConfig, PeftModel

    # autocast off: LoRA weights in the base's dtype (bf16 LoRA matmuls are faster on bf16 CPUs)
    options = {"adapter_name": name, "is_trainable": False, "autocast_adapter_dtype": False}
    wrapped_now = not engine.has_adapters
    if wrapped_now:
        config = PeftConfig.from_pretrained(str(directory))
        config.inference_mode = True
        engine.model = PeftModel(engine.model, config, adapter_name=name, autocast_adapter_dtype=False)
        engine.has_adapters = True
    engine.adapter_state = None
    try:
        engine.model.load_adapter(str(directory), **options)
    except Exception:
        if wrapped_now:
            engine.model, engine.has_adapters = engine.model.unload(), False
        elif name in engine.model.peft_config:
            engine.model.delete_adapter(name)
        raise
    engine.model.eval()
    marker = f".{name}."
    return sum(p.numel() * p.element_size() for n, p in engine.model.named_parameters() if marker in n)


def _adapter_unload(engine, name: str) -> None:
    """On the engine thread: end the chats on this version, then drop its weights."""
    engine.adapter_rows_end(name, f"model version {name} was unloaded")
    engine.model.delete_adapter(name)
    engine.adapter_state = None
