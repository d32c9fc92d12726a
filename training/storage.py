"""Model versions on disk: staged, described by a manifest, published by an atomic rename.

Layout under ``MODEL_STORAGE_DIR``::

    .tmp-run<ID>-<random>/      a run writing (removed on failure and by the reaper)
    model_YYYYMMDD_HHMMSS/      a published version: adapter files + manifest.json

A directory is a version only if its ``manifest.json`` lists every file with its sha256
and every listed file is present and unchanged. No Django here.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from therapist_ai.files import file_sha256

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
VERSION_PREFIX = "model_"


class StorageError(Exception):
    """Writing a model version failed; the message is meant for the run's error text."""


def storage_error(exc: OSError, *, doing: str, path: Path) -> StorageError:
    if exc.errno == errno.ENOSPC:
        return StorageError(f"disk full while {doing} in {path}: free space on the model storage volume")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(
            f"permission denied while {doing} in {path}: the worker must be able to write MODEL_STORAGE_DIR"
        )
    return StorageError(f"{exc.strerror or exc} while {doing} in {path}")


def staging_dir_create(storage_dir: Path, *, run_id: int) -> Path:
    try:
        Path(storage_dir).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".tmp-run{run_id}-", dir=storage_dir))
    except OSError as exc:
        raise storage_error(exc, doing="creating a staging directory", path=Path(storage_dir)) from exc


def staging_dirs_remove(storage_dir: Path, *, run_id: int) -> list[Path]:
    """Remove what a run left half-written (after a crash or a failure)."""
    removed = []
    storage_dir = Path(storage_dir)
    if not storage_dir.is_dir():
        return removed
    for path in storage_dir.glob(f".tmp-run{run_id}-*"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def manifest_write(staging: Path, *, description: dict) -> dict:
    """Hash every file in ``staging`` and write ``manifest.json`` (fsynced) beside them."""
    try:
        files = [
            {"path": str(p.relative_to(staging)), "sha256": file_sha256(p), "bytes": p.stat().st_size}
            for p in _files(staging)
        ]
        manifest = {"format": MANIFEST_FORMAT, **description, "files": files}
        target = staging / MANIFEST
        with open(target, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        return manifest
    except OSError as exc:
        raise storage_error(exc, doing="writing the manifest", path=staging) from exc


def manifest_sha256(directory: Path) -> str:
    return file_sha256(Path(directory) / MANIFEST)


def version_name(now: datetime, storage_dir: Path) -> str:
    """``model_YYYYMMDD_HHMMSS``; the next free second if that name is taken."""
    for offset in range(3600):
        name = f"{VERSION_PREFIX}{(now + timedelta(seconds=offset)):%Y%m%d_%H%M%S}"
        if not (Path(storage_dir) / name).exists():
            return name
    raise StorageError("no free version name")


def version_publish(staging: Path, *, storage_dir: Path, name: str) -> Path:
    """Atomic rename of a staged, manifested directory to its version name."""
    target = Path(storage_dir) / name
    if not (staging / MANIFEST).is_file():
        raise StorageError(f"refusing to publish {staging}: no manifest")
    try:
        _fsync_dir(staging)
        os.rename(staging, target)  # same filesystem: atomic; fails if target exists and is non-empty
        _fsync_dir(Path(storage_dir))
    except OSError as exc:
        raise storage_error(exc, doing="publishing the model version", path=Path(storage_dir)) from exc
    return target


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest_verify(directory: Path) -> tuple[bool, str]:
    """(ok, reason). Every listed file present with its hash; no manifest, no version."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        return False, f"directory {directory} is missing"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, "manifest.json is missing"
    except (OSError, ValueError) as exc:
        return False, f"manifest.json is unreadable: {exc}"
    files = manifest.get("files")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, list) or not files:
        return False, "manifest.json has no file list"
    for entry in files:
        path = directory / str(entry.get("path", ""))
        if not path.is_file() or directory not in path.resolve().parents:
            return False, f"file {entry.get('path')} listed in the manifest is missing"
        if file_sha256(path) != entry.get("sha256"):
            return False, f"file {entry.get('path')} does not match its sha256 in the manifest"
    return True, ""


def manifest_read(directory: Path) -> dict:
    return json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))


def versions_on_disk(storage_dir: Path) -> list[Path]:
    """Published version directories whose manifest verifies (staging dirs never count)."""
    storage_dir = Path(storage_dir)
    if not storage_dir.is_dir():
        return []
    return sorted(
        p for p in storage_dir.iterdir()
        if p.is_dir() and p.name.startswith(VERSION_PREFIX) and manifest_verify(p)[0]
    )
