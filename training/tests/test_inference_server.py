"""The local inference server over real HTTP: the tiny bootstrap base model, LoRA versions trained by
the real pipeline and published by the real storage code, uvicorn on loopback in a thread."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from devtools.servers import ROOT as REPO
from devtools.servers import free_port
from training import storage
from training.inference import ServerConfig, create_app
from training.tests.conftest import wait_for

PROMPT = [{"role": "user", "content": "I feel lonely since I moved to a new city."}]
REPLY = "Breathe in slowly with me, then tell me one small thing that went well today."


def _publish(tmp_source: Path, storage_dir: Path, name: str, *, base_model: str) -> Path:
    staging = storage.staging_dir_create(storage_dir, run_id=1)
    shutil.copytree(tmp_source, staging, dirs_exist_ok=True)
    storage.manifest_write(staging, description={"name": name, "base_model": base_model})
    return storage.version_publish(staging, storage_dir=storage_dir, name=name)


@pytest.fixture(scope="module")
def storage_dir(tiny_base_model, tmp_path_factory) -> Path:
    """A good version (trained to answer REPLY), a tampered copy, a broken manifest, another base's."""
    from training.pipeline import TrainConfig, adapter_train

    root = tmp_path_factory.mktemp("inference")
    trained = root / "adapter"
    conversations = [[{"role": "user", "content": text}, {"role": "assistant", "content": REPLY}]
                     for text in ("I feel lonely.", "I can't sleep.", "Work is too much.", "My exams scare me.")]
    adapter_train(TrainConfig(base_model=str(tiny_base_model), output_dir=trained, epochs=30, batch_size=4,
                              learning_rate=1e-2, lora_r=4, lora_alpha=16, lora_dropout=0.0, max_length=128),
                  conversations, conversations[:1])
    versions = root / "trained_models"
    good = _publish(trained, versions, "model_20260101_000001", base_model=str(tiny_base_model))
    tampered = _publish(trained, versions, "model_20260101_000002", base_model=str(tiny_base_model))
    with open(tampered / "adapter_model.safetensors", "r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\x00" * 8)
    broken = _publish(trained, versions, "model_20260101_000003", base_model=str(tiny_base_model))
    (broken / storage.MANIFEST).write_text("{not json", encoding="utf-8")
    _publish(trained, versions, "model_20260101_000004", base_model=str(root / "some-other-base"))
    mismatched = root / "mismatched"  # verifies, right base, but its weights do not fit its config
    shutil.copytree(trained, mismatched)
    adapter_config = json.loads((mismatched / "adapter_config.json").read_text())
    (mismatched / "adapter_config.json").write_text(json.dumps({**adapter_config, "r": 8}))
    _publish(mismatched, versions, "model_20260101_000005", base_model=str(tiny_base_model))
    assert storage.manifest_verify(good)[0]
    return versions


@pytest.fixture(scope="module")
def expected(tiny_base_model, storage_dir) -> dict:
    """Greedy replies of plain transformers/PEFT ``generate`` (same weights, prompt, limit) to compare with."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model, dtype=torch.float32).eval()
    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)

    def reply(m) -> str:
        with torch.inference_mode():
            out = m.generate(**inputs, max_new_tokens=48, do_sample=False)
        return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    base = reply(model)
    version = reply(PeftModel.from_pretrained(model, str(storage_dir / "model_20260101_000001")).eval())
    assert version != base  # the adapter changes what the model says
    return {"base": base, "version": version}


@pytest.fixture(scope="module")
def server(tiny_base_model, storage_dir):
    import uvicorn

    config = ServerConfig(port=free_port(), storage_dir=storage_dir, base_model=tiny_base_model, max_tokens=48,
                          timeout=30, dtype="float32", max_batch=8, batch_wait=0.02)
    app = create_app(config)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=config.port, log_level="warning",
                                       lifespan="on"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    wait_for(lambda: uv.started, timeout=20, what="the inference server to start")
    with httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=30) as client:
        client.app = app
        yield client
    uv.should_exit = True
    thread.join(timeout=10)


def chat(client, model="base", **extra) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": model, "messages": PROMPT, "temperature": 0, **extra})


def sse_events(response: httpx.Response) -> list:
    lines = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


def test_non_streaming_reply_is_an_openai_chat_completion(server, expected):
    body = chat(server).json()
    assert body["choices"][0]["message"]["content"] == expected["base"]
    assert body["object"] == "chat.completion" and body["model"] == "base" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"].strip()
    assert choice["finish_reason"] in {"stop", "length"}
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 48
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streaming_reply_sends_openai_chunks_usage_and_done(server):
    with server.stream("POST", "/v1/chat/completions", json={
        "model": "base", "messages": PROMPT, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True},
    }) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks, usage = events[:-2], events[-2]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in {"stop", "length"}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == chat(server).json()["choices"][0]["message"]["content"]


def test_an_adapter_that_does_not_load_is_refused_and_leaves_the_base_as_it_was(server):
    before = chat(server).json()["choices"][0]["message"]["content"]
    response = chat(server, "model_20260101_000005")  # the first adapter this server tries to load
    assert response.status_code == 422 and "does not load on this base" in response.json()["error"]["message"]
    assert chat(server).json()["choices"][0]["message"]["content"] == before


def test_a_trained_version_answers_differently_from_the_base(server, expected):
    version = chat(server, "model_20260101_000001").json()  # loaded on demand from the storage directory
    assert version["model"] == "model_20260101_000001"
    assert version["choices"][0]["message"]["content"] == expected["version"] != expected["base"]
    listed = [m["id"] for m in server.get("/v1/models").json()["data"]]
    assert listed[0] == "base" and "model_20260101_000001" in listed


@pytest.mark.parametrize("name, reason", [
    ("model_20260101_000002", "does not match its sha256"),
    ("model_20260101_000003", "manifest.json is unreadable"),
    ("model_20260101_000004", "trained on base model"),
])
def test_a_version_that_fails_verification_is_refused_and_never_serves(server, name, reason):
    for response in (chat(server, name), chat(server, name, stream=True)):
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "model_refused" and reason in error["message"]
    loaded = server.post("/v1/load_lora_adapter", json={"lora_name": name})
    assert loaded.status_code == 422
    health = server.get("/health").json()
    assert reason in health["refused_versions"][name]
    assert name not in [v["name"] for v in health["loaded_versions"]]
    assert name not in [m["id"] for m in server.get("/v1/models").json()["data"]]


def test_unknown_model_is_404_in_openai_error_shape(server):
    response = chat(server, "model_20991231_235959")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert response.json()["error"]["type"] == "not_found_error"


def test_load_and_unload_lora_adapter_at_runtime(server, storage_dir, expected):
    name = "model_20260101_000001"
    loaded = server.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": str(storage_dir / name)})
    assert loaded.status_code == 200 and loaded.json()["version"]["adapter_bytes"] > 0
    assert name in [v["name"] for v in server.get("/health").json()["loaded_versions"]]
    assert server.post("/v1/unload_lora_adapter", json={"lora_name": name}).status_code == 200
    assert name not in [m["id"] for m in server.get("/v1/models").json()["data"]]
    outside = server.post("/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": "/etc"})
    assert outside.status_code == 400
    assert chat(server, name).json()["choices"][0]["message"]["content"] == expected["version"]  # on demand again


def test_max_tokens_cuts_the_reply_with_finish_reason_length(server):
    body = chat(server, max_tokens=5, ignore_eos=True).json()
    assert body["usage"]["completion_tokens"] == 5 and body["choices"][0]["finish_reason"] == "length"


def test_time_limit_cuts_the_reply_with_finish_reason_length(server, monkeypatch):
    config = server.app.state.server.config
    monkeypatch.setattr(config, "timeout", 0.4)
    monkeypatch.setattr(config, "max_tokens", 1900)
    started = time.monotonic()
    body = chat(server, max_tokens=1900, ignore_eos=True).json()
    assert time.monotonic() - started < 5
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] < 1900


def test_concurrent_requests_all_complete_and_are_decoded_together(server):
    models = ["base", "model_20260101_000001"] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda m: chat(server, m, max_tokens=16, ignore_eos=True).json(), models))
    assert [b["usage"]["completion_tokens"] for b in bodies] == [16] * 8
    assert [b["model"] for b in bodies] == models
    replies = {m: {b["choices"][0]["message"]["content"] for b, n in zip(bodies, models, strict=True) if n == m}
               for m in set(models)}
    # one mixed batch: each row kept its own adapter (same prompt, same model: same greedy reply)
    assert len(replies["base"]) == len(replies["model_20260101_000001"]) == 1
    assert replies["base"] != replies["model_20260101_000001"]
    assert server.get("/health").json()["peak_running"] >= 2


def test_a_client_that_disconnects_stops_its_generation(server, monkeypatch):
    monkeypatch.setattr(server.app.state.server.config, "max_tokens", 1900)
    with server.stream("POST", "/v1/chat/completions", json={
        "model": "base", "messages": PROMPT, "stream": True, "max_tokens": 1900, "ignore_eos": True,
    }) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
    wait_for(lambda: server.get("/health").json()["running"] == 0, timeout=5, what="the generation to stop")


def test_health_reports_the_base_uptime_and_queue(server):
    health = server.get("/health").json()
    assert health["status"] == "ok" and health["base_model"]["fingerprint"]
    assert health["uptime_s"] >= 0 and health["queue_depth"] == 0


def test_bearer_token_is_required_when_an_api_key_is_set(server, monkeypatch):
    monkeypatch.setattr(server.app.state.server.config, "api_key", "s3cret")
    response = chat(server)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert server.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = server.post("/v1/chat/completions", headers={"Authorization": "Bearer s3cret"},
                     json={"model": "base", "messages": PROMPT, "max_tokens": 2})
    assert ok.status_code == 200


def test_bad_requests_get_400(server):
    assert chat(server, messages="hi").status_code == 400
    assert chat(server, temperature=5).status_code == 400
    assert server.post("/v1/chat/completions", content=b"{").status_code == 400


def test_entry_point_serves_health_with_env_fallbacks(tiny_base_model, storage_dir, tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "INFERENCE_PORT": str(port), "MODEL_STORAGE_DIR": str(storage_dir),
           "DATA_DIR": str(tiny_base_model.parent), "HOME": str(tmp_path)}
    # BASE_MODEL unset: DATA_DIR/base_model is the default, so point it at the tiny model
    (tiny_base_model.parent / "base_model").symlink_to(tiny_base_model, target_is_directory=True)
    proc = subprocess.Popen([sys.executable, "-m", "training.inference", "--max-tokens", "8"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
            except httpx.HTTPError:
                return None
        health = wait_for(up, timeout=60, what="python -m training.inference to answer")
        assert health["base_model"]["path"] == str((tiny_base_model.parent / "base_model").resolve())
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_version_matches_the_base_by_fingerprint_or_by_a_path_holding_the_same_weights(tiny_base_model, tmp_path):
    from training.base_models import base_fingerprint
    from training.inference.versions import Versions

    versions = Versions(None, storage_dir=tmp_path, base_dir=tiny_base_model)
    fingerprint = base_fingerprint(tiny_base_model)
    assert versions.base_matches({"base_model": "/mnt/elsewhere/base_model", "base_model_fingerprint": fingerprint})[0]
    assert not versions.base_matches({"base_model": str(tiny_base_model), "base_model_fingerprint": "0" * 64})[0]
    copy = shutil.copytree(tiny_base_model, tmp_path / "same_weights_other_path")
    assert versions.base_matches({"base_model": str(copy)})[0]
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("}", ', "x": 1}', 1))
    ok, reason = versions.base_matches({"base_model": str(copy)})
    assert not ok and "this server serves" in reason
