"""The screening model artefact: verified before it screens, refused loudly when altered (the
screen then falls back to the rules and at least concern), the same verdicts on every runtime."""

import json
import shutil

import numpy as np
import pytest

from conversations.safety import screen_model
from conversations.safety.screen_model import SHIPPED_DIR, ArtefactError, ScreenModel, artefact_verify
from conversations.safety.screening import screen_input

EXAMPLES = [("I want to kill myself", []), ("this commute is killing me", ["the trains are a mess again"]),
            ("thanks for trying, this is my last message", ["I gave my cat to my sister", "I wrote the letters"])]


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "screen_model"
    shutil.copytree(SHIPPED_DIR, folder)
    return folder


@pytest.fixture
def configured_at(settings):
    """Point the process's screen at a folder; forget the loaded model before and after."""

    def point(folder):
        settings.SAFETY_SCREEN_MODEL_DIR = str(folder)
        screen_model.screen_model_reset()

    yield point
    screen_model.screen_model_reset()


def test_the_shipped_artefact_verifies_and_is_small_enough_for_git():
    manifest = artefact_verify(SHIPPED_DIR)
    assert set(manifest["files"]) == {"adapter.safetensors", "report.json"}
    assert sum(f["bytes"] for f in manifest["files"].values()) < 4_000_000
    assert manifest["version"] and manifest["thresholds"]["risk"] > 0
    names = {s["name"] for s in manifest["data"]["sources"]}
    assert {"train.jsonl", "train_batches/batch_1.jsonl", "train_batches/batch_4.jsonl"} <= names
    assert all(len(s["sha256"]) == 64 and s["count"] > 0 for s in manifest["data"]["sources"] if s["count"])
    assert manifest["training"]["config"]["lora_r"] > 0 and manifest["data"]["held_out"] is None
    assert set(json.loads((SHIPPED_DIR / "report.json").read_text())["sets"]) >= {"eval", "probe", "probe_unseen"}


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete", "edit the report"])
def test_an_altered_artefact_is_refused(copy, damage):
    adapter = copy / "adapter.safetensors"
    if damage == "flip a byte":
        data = bytearray(adapter.read_bytes())
        data[len(data) // 2] ^= 0x01
        adapter.write_bytes(bytes(data))
    elif damage == "truncate":
        adapter.write_bytes(adapter.read_bytes()[:-10])
    elif damage == "delete":
        adapter.unlink()
    else:
        (copy / "report.json").write_text("{}")
    with pytest.raises(ArtefactError):
        ScreenModel(copy)


def test_an_artefact_for_another_base_model_is_refused(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["base_model"]["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtefactError, match="another base model"):
        ScreenModel(copy)


@pytest.mark.django_db
def test_a_refused_model_leaves_the_rules_and_at_least_concern_and_says_so_loudly(copy, configured_at, caplog):
    (copy / "adapter.safetensors").write_bytes(b"tampered")
    configured_at(copy)

    ordinary = screen_input("I had a long day")
    assert ordinary.level == "concern" and "screening model unavailable" in ordinary.reasons[-1]
    assert screen_input("I want to kill myself").is_crisis  # the rules still decide crisis
    assert any("REFUSED" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    status = screen_model.screen_model_status()
    assert status["state"] == "refused" and "sha256" in status["error"]

    from django.core.checks import run_checks

    assert [m.id for m in run_checks() if m.id.startswith("safety.")] == ["safety.W001"]


@pytest.mark.django_db
def test_the_admin_index_says_which_model_screens_or_that_it_was_refused(copy, configured_at, clinician, client):
    from django.urls import reverse

    client.force_login(clinician)
    page = client.get(reverse("admin:index")).content.decode()
    assert f'id="screening-model-version">{screen_model.get_screen_model().version}<' in page
    (copy / "adapter.safetensors").write_bytes(b"tampered")
    configured_at(copy)
    assert 'id="screening-model-refused"' in client.get(reverse("admin:index")).content.decode()


def test_numpy_and_onnxruntime_give_the_same_probabilities():
    numpy_model = ScreenModel(SHIPPED_DIR, "numpy")
    inputs = numpy_model.inputs(EXAMPLES)
    reference, _ = numpy_model.probabilities(inputs)
    fp32, _ = ScreenModel(SHIPPED_DIR, "onnx-fp32").probabilities(inputs)
    int8, _ = ScreenModel(SHIPPED_DIR, "onnx-int8").probabilities(inputs)
    assert np.abs(fp32 - reference).max() < 1e-4
    assert np.abs(int8 - reference).max() < 0.15  # int8 matrix products: measured in docs/safety.md
    assert [numpy_model.level_of(r) for r in reference][:2] == [numpy_model.level_of(r) for r in int8][:2]


def test_the_loaded_model_is_the_one_the_manifest_describes():
    model = screen_model.get_screen_model()
    assert model.version == json.loads((SHIPPED_DIR / "manifest.json").read_text())["version"]
    assert model.runtime in ("onnx-int8", "numpy")


def test_a_long_message_gets_the_same_verdict_whether_its_windows_are_read_together_or_one_by_one():
    """The onnxruntime encoder batches windows of similar length (less padding to compute); each
    window's probabilities must not depend on which others share its batch."""
    from conversations.safety.onnx_encoder import PADDING_WASTE_MAX, _length_groups

    model = ScreenModel(SHIPPED_DIR, "onnx-fp32")
    items = [("thanks for trying, this is my last message", ["I gave my cat to my sister", "I wrote the letters"]),
             *((f"window {i} of a long message about exams and sleep and my flatmate " * (1 + i % 3), [])
               for i in range(6))]
    inputs = model.inputs(items)
    together, _ = model.probabilities(inputs)
    alone = np.vstack([model.probabilities([x])[0] for x in inputs])
    assert np.abs(together - alone).max() < 1e-4

    lengths = [len(x.ids) for x in inputs]
    groups = _length_groups(lengths, batch_size=16)
    assert sorted(i for g in groups for i in g) == list(range(len(inputs)))
    assert all(max(lengths[i] for i in g) <= PADDING_WASTE_MAX * min(lengths[i] for i in g) for g in groups)
