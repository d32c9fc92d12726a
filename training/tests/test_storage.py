"""Model directories: manifest with hashes, atomic publish, tampering and missing files refused."""

import errno
import json

import pytest

from training import storage


def staged(tmp_path, run_id=1):
    staging = storage.staging_dir_create(tmp_path, run_id=run_id)
    (staging / "adapter_model.safetensors").write_bytes(b"weights" * 100)
    (staging / "adapter_config.json").write_text('{"r": 4}')
    storage.manifest_write(staging, description={"base_model": "tiny", "metrics": {"eval_loss": 1.0}})
    return staging


def test_a_published_version_has_a_manifest_listing_every_file_with_its_hash(tmp_path):
    path = storage.version_publish(staged(tmp_path), storage_dir=tmp_path, name="model_20260101_000000")
    manifest = storage.manifest_read(path)
    assert {f["path"] for f in manifest["files"]} == {"adapter_model.safetensors", "adapter_config.json"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert storage.manifest_verify(path) == (True, "")
    assert storage.versions_on_disk(tmp_path) == [path]


def test_a_tampered_file_makes_the_version_invalid(tmp_path):
    path = storage.version_publish(staged(tmp_path), storage_dir=tmp_path, name="model_20260101_000000")
    (path / "adapter_config.json").write_text('{"r": 64}')
    ok, reason = storage.manifest_verify(path)
    assert not ok and "does not match its sha256" in reason
    assert storage.versions_on_disk(tmp_path) == []


def test_a_missing_file_or_manifest_makes_the_version_invalid(tmp_path):
    path = storage.version_publish(staged(tmp_path), storage_dir=tmp_path, name="model_20260101_000000")
    (path / "adapter_model.safetensors").unlink()
    assert storage.manifest_verify(path) == (False, "file adapter_model.safetensors listed in the manifest is missing")
    (path / "manifest.json").unlink()
    assert storage.manifest_verify(path) == (False, "manifest.json is missing")


def test_a_manifest_pointing_outside_its_directory_is_refused(tmp_path):
    path = storage.version_publish(staged(tmp_path), storage_dir=tmp_path, name="model_20260101_000000")
    (tmp_path / "outside.bin").write_bytes(b"x")
    manifest = storage.manifest_read(path)
    manifest["files"].append({"path": "../outside.bin", "sha256": storage.file_sha256(tmp_path / "outside.bin")})
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert storage.manifest_verify(path)[0] is False


def test_staging_directories_are_never_listed_and_are_removed_per_run(tmp_path):
    staging = staged(tmp_path, run_id=7)
    other = staged(tmp_path, run_id=8)
    assert storage.versions_on_disk(tmp_path) == []
    assert storage.staging_dirs_remove(tmp_path, run_id=7) == [staging]
    assert not staging.exists() and other.exists()


def test_publishing_without_a_manifest_is_refused(tmp_path):
    staging = storage.staging_dir_create(tmp_path, run_id=1)
    with pytest.raises(storage.StorageError, match="no manifest"):
        storage.version_publish(staging, storage_dir=tmp_path, name="model_20260101_000000")


def test_version_names_follow_the_timestamp_format_and_never_collide(tmp_path):
    from datetime import datetime

    now = datetime(2026, 11, 25, 1, 2, 3)
    assert storage.version_name(now, tmp_path) == "model_20261125_010203"
    (tmp_path / "model_20261125_010203").mkdir()
    assert storage.version_name(now, tmp_path) == "model_20261125_010204"


def test_storage_that_cannot_be_created_fails_with_a_clear_message(tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("x")
    with pytest.raises(storage.StorageError, match="creating a staging directory"):
        storage.staging_dir_create(blocker / "models", run_id=1)


@pytest.mark.parametrize(("code", "phrase"), [(errno.ENOSPC, "disk full"), (errno.EACCES, "permission denied"),
                                               (errno.EROFS, "permission denied")])
def test_disk_full_and_permission_errors_are_explained(tmp_path, code, phrase):
    error = storage.storage_error(OSError(code, "boom"), doing="writing the manifest", path=tmp_path)
    assert phrase in str(error) and str(tmp_path) in str(error)
