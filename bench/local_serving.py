"""Local serving: the inference server vs plain ``model.generate`` on the real base model.

    .venv/bin/python bench/local_serving.py [--base-model DIR] [--tokens 64] [--repeats 3]

Why: a promoted version answers patients through ``python -m training.inference``; it must
not be slower than the obvious script, must share the CPU between concurrent chats, and must
switch versions quickly. Everything is measured in this run, on this machine:

1. One chat: tokens/s and time to first token (TTFT) of the server (HTTP + SSE, greedy,
   ``ignore_eos`` so every run decodes ``--tokens`` tokens) vs ``model.generate`` in this
   process with the same weights, dtype, prompt and token count (goal >= 1.0x).
2. Eight concurrent chats on one version: aggregate tokens/s vs one chat (goal >= 3x); also
   four on the base and four on the version in one mixed batch.
3. Memory per loaded version: the server's RSS before and after loading a second version,
   and the adapter's parameter bytes.
4. Switch time: from a ``/v1/load_lora_adapter`` call for a version not yet loaded to the
   first token it streams (goal <= 5 s).

The base is SmolLM2-135M-Instruct (converted into a temporary directory unless given); the
version is a LoRA adapter (r16, all linear layers) trained for a few steps by the project's
pipeline and published with a manifest by ``training.storage``. The server runs as its own
process, as in production. The CPU may be shared with other jobs: the measurements run in
``--repeats`` interleaved rounds, each printed, and every ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.train_latency import free_port, wait_until  # noqa: E402

PROMPT = [{"role": "system", "content": "You are a supportive assistant. You are an AI, not a therapist."},
          {"role": "user", "content": "I have been feeling lonely lately."}]


def base_and_version(base: str | None, work: Path) -> tuple[Path, Path]:
    """The converted base model and a storage directory with one published version."""
    from training import storage
    from training.bootstrap import corpus_load
    from training.pipeline import TrainConfig, adapter_train

    if base is None:
        from training.base_models import smollm2_convert

        base = work / "base_model"
        smollm2_convert(output_dir=base, log=print)
    base = Path(base).resolve()
    storage_dir = work / "trained_models"
    staging = storage.staging_dir_create(storage_dir, run_id=1)
    conversations = corpus_load()[:16]
    adapter_train(TrainConfig(base_model=str(base), output_dir=staging, max_steps=3, max_length=256),
                  conversations, conversations[:2])
    storage.manifest_write(staging, description={"name": "model_20260101_000001", "base_model": str(base)})
    storage.version_publish(staging, storage_dir=storage_dir, name="model_20260101_000001")
    return base, storage_dir


def publish_copy(storage_dir: Path, name: str) -> None:
    from training import storage

    staging = storage.staging_dir_create(storage_dir, run_id=2)
    source = storage_dir / "model_20260101_000001"
    for path in source.iterdir():
        if path.name != storage.MANIFEST:
            shutil.copy(path, staging / path.name)
    storage.manifest_write(staging, description=json.loads((source / storage.MANIFEST).read_text()) | {"name": name})
    storage.version_publish(staging, storage_dir=storage_dir, name=name)


class Baseline:
    """``model.generate`` in this process on the server's weights and dtype: the base, and the
    version through PEFT (adapter unmerged, as the server runs it)."""

    def __init__(self, base: Path, dtype: str, adapter: Path):
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base)
        self.plain = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype)).eval()
        model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype)).eval()  # PEFT wraps in place
        self.model = PeftModel.from_pretrained(model, str(adapter), autocast_adapter_dtype=False).eval()
        self.inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
        self.run(4, adapter=False)  # warm-up

    def run(self, tokens: int, *, adapter: bool) -> dict:
        """Greedy, exactly ``tokens`` new tokens: tokens/s and TTFT (a streamer notes the first token)."""
        import torch
        from transformers.generation.streamers import BaseStreamer

        class FirstToken(BaseStreamer):
            calls, first = 0, None

            def put(self, value):
                self.calls += 1
                if self.calls == 2:  # the first put is the prompt
                    self.first = time.perf_counter()

            def end(self):
                pass

        streamer = FirstToken()
        started = time.perf_counter()
        with torch.inference_mode():
            model = self.model if adapter else self.plain  # the base without PEFT's wrappers around each layer
            out = model.generate(**self.inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                 streamer=streamer)
        elapsed = time.perf_counter() - started
        assert out.shape[1] - self.inputs["input_ids"].shape[1] == tokens
        return {"rate": tokens / elapsed, "ttft": streamer.first - started}


def stream_chat(client, model: str, tokens: int) -> dict:
    """One streamed chat: tokens received, TTFT and total seconds."""
    started, first, count = time.perf_counter(), None, 0
    body = {"model": model, "messages": PROMPT, "stream": True, "temperature": 0, "max_tokens": tokens,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                count = event["usage"]["completion_tokens"]
            elif event["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter()
    return {"tokens": count, "ttft": first - started, "seconds": time.perf_counter() - started}


def concurrent(client, models: list[str], tokens: int) -> float:
    """Aggregate tokens/s of len(models) chats started together."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(models)) as pool:
        results = list(pool.map(lambda m: stream_chat(client, m, tokens), models))
    return sum(r["tokens"] for r in results) / (time.perf_counter() - started)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", default=None)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()

    import httpx

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    base, storage_dir = base_and_version(args.base_model, work)
    version = "model_20260101_000001"
    port = free_port()
    log = open(work / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "training.inference", "--port", str(port), "--base-model", str(base),
                               "--storage-dir", str(storage_dir), "--dtype", args.dtype, "--max-tokens", "4096"],
                              cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300)
    try:
        def health():
            try:
                return client.get("/health").json()
            except httpx.HTTPError:
                return None

        dtype = wait_until(health, 180, "the inference server")["base_model"]["dtype"]
        n, r = args.tokens, args.repeats
        print(f"base {base} ({dtype}), prompt {len(json.dumps(PROMPT))} chars, {n} new tokens, medians of {r}")

        baseline = Baseline(base, dtype, storage_dir / version)
        stream_chat(client, "base", n)  # warm-up
        rss_base = rss_bytes(server.pid)
        client.post("/v1/load_lora_adapter", json={"lora_name": version}).raise_for_status()
        rss_one = rss_bytes(server.pid)
        stream_chat(client, version, 4)  # warm-up
        rounds = []
        for i in range(r):  # interleaved: a busy moment on the shared CPU hits every figure of its round
            gb, gv = baseline.run(n, adapter=False), baseline.run(n, adapter=True)
            sb, sv = stream_chat(client, "base", n), stream_chat(client, version, n)
            row = {"gen_base": gb["rate"], "gen_base_ttft": gb["ttft"], "gen_ver": gv["rate"], "gen_ver_ttft": gv["ttft"],
                   "srv_base": sb["tokens"] / sb["seconds"], "srv_base_ttft": sb["ttft"],
                   "srv_ver": sv["tokens"] / sv["seconds"], "srv_ver_ttft": sv["ttft"],
                   "agg_ver": concurrent(client, [version] * 8, n), "agg_base": concurrent(client, ["base"] * 8, n),
                   "mixed": concurrent(client, ["base", version] * 4, n)}
            rounds.append(row)
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)

        def med(key_or_fn):
            fn = key_or_fn if callable(key_or_fn) else (lambda x: x[key_or_fn])
            return statistics.median(fn(x) for x in rounds)

        for label, g, sv in (("base", "gen_base", "srv_base"), ("version", "gen_ver", "srv_ver")):
            print(f"1 chat, {label:7}: model.generate {med(g):5.1f} tok/s TTFT {med(g + '_ttft') * 1000:4.0f} ms | "
                  f"server {med(sv):5.1f} tok/s TTFT {med(sv + '_ttft') * 1000:4.0f} ms | ratio "
                  f"{med(lambda x, g=g, sv=sv: x[sv] / x[g]):.2f}x (goal >= 1.0x)")
        print(f"8 chats, version: aggregate {med('agg_ver'):5.1f} tok/s | vs 1 chat on the server "
              f"{med(lambda x: x['agg_ver'] / x['srv_ver']):.2f}x (goal >= 3x)")
        print(f"8 chats, base:    aggregate {med('agg_base'):5.1f} tok/s | vs 1 chat on the server "
              f"{med(lambda x: x['agg_base'] / x['srv_base']):.2f}x")
        print(f"8 chats, 4 base + 4 version in one mixed batch: aggregate {med('mixed'):5.1f} tok/s | vs 1 chat "
              f"(harmonic mean of base and version) {med(lambda x: x['mixed'] * (1 / x['srv_base'] + 1 / x['srv_ver']) / 2):.2f}x")
        publish_copy(storage_dir, "model_20260101_000002")
        rss_before_two = rss_bytes(server.pid)
        started = time.perf_counter()
        loaded = client.post("/v1/load_lora_adapter", json={"lora_name": "model_20260101_000002"})
        loaded.raise_for_status()
        first = stream_chat(client, "model_20260101_000002", 4)
        switch = time.perf_counter() - started
        rss_two = rss_bytes(server.pid)
        adapter_bytes = loaded.json()["version"]["adapter_bytes"]
        print(f"memory: server RSS {rss_base / 2**20:.0f} MiB serving the base; loading the first version "
              f"+{(rss_one - rss_base) / 2**20:.0f} MiB (PEFT wrapping + adapter), a second one "
              f"+{(rss_two - rss_before_two) / 2**20:.0f} MiB; adapter parameters {adapter_bytes / 2**20:.1f} MiB "
              f"each ({dtype})")
        print(f"switch: load_lora_adapter -> first token of the new version {switch:.2f} s "
              f"(load {loaded.json()['version']['load_seconds']:.2f} s, TTFT {first['ttft']:.2f} s; goal <= 5 s)")
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
