"""Training throughput: the project's pipeline vs a plain TRL SFTTrainer script, same model and data.

    .venv/bin/python bench/train_throughput.py                       # CPU, a few-million-parameter model
    .venv/bin/python bench/train_throughput.py --data corpus         # the shipped corpus as it is (short, even)
    .venv/bin/python bench/train_throughput.py --device cuda --preset 0.5b   # GPU, Qwen2.5-0.5B-shaped, random weights

Both variants fine-tune the same LoRA adapter (same rank, dropout, targets, batch size,
learning rate, epochs) on the same conversations. Each runs in its own subprocess so peak
memory is its own; the two alternate ``--repeats`` times and the medians are compared (the
CPU may be shared: each run is printed too).

Data (``--data``): ``sessions`` (default) are chat sessions built from the shipped corpus
(``training/data/supportive_conversations.jsonl``, written for this project): a session covers
one corpus conversation and, with probability 1/2 each time, goes on to another one (so 1, 2,
3, ... topics with probability 1/2, 1/4, 1/8, ..., at most 8), and half of the sessions start
with the system prompt. Lengths are long-tailed like real transcripts: mostly short, a few
long (truncated at 1,024 tokens like the pipeline's default). ``corpus`` is one corpus
conversation each (2-8 messages; 48-288 tokens), half with the system prompt.

* baseline: ``SFTTrainer`` with default ``SFTConfig`` (each batch padded to its longest
  conversation; TRL's default gradient checkpointing) on a conversational ``{"messages": ...}``
  dataset. Only what a script must say is set: batch size, epochs, learning rate, LoRA, no
  saving/reporting, float32 on CPU.
* project: ``training.pipeline.adapter_train`` with its defaults (assistant-only loss; on CPU
  length-grouped batches under a token budget, on CUDA padding-free; activations kept instead
  of checkpointed when they fit in memory).

Printed: non-padding tokens/s of each and their ratio (goal >= 1.5x), peak memory of each
and their ratio, and on CUDA the model FLOPs utilisation with the LoRA formula
``4N + 12*L*d*T`` FLOPs per token (N base parameters, L layers, d hidden size, T mean
sequence length; frozen base: forward 2N + activation gradients 2N, no weight gradients).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PRESETS = {
    # a few million parameters: the size the CPU comparison is meant for
    "small": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4),
    # Qwen2.5-0.5B's shape (random weights are fine for throughput)
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936),
}
PEAK_TFLOPS_BF16 = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}
SYSTEM_PROMPT = (
    "You are Therapist AI, a supportive conversational assistant. You are an AI, not a human and not a "
    "licensed therapist, and you say so if asked. Listen carefully, reflect feelings, ask gentle open "
    "questions and suggest evidence-based coping ideas. Keep replies short and warm."
)


def build_model(preset: str, workdir: Path) -> Path:
    """A from-config Llama-style model with the bootstrap tokenizer, saved for from_pretrained."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.bootstrap import corpus_load, tokenizer_train

    torch.manual_seed(0)
    tokenizer = tokenizer_train(corpus_load(), vocab_size=2000)
    shape = dict(PRESETS[preset])
    vocab = shape.pop("vocab_size", len(tokenizer))
    config = LlamaConfig(vocab_size=vocab, max_position_embeddings=2048, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, **shape)
    model = LlamaForCausalLM(config)
    out = workdir / f"model_{preset}"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def conversations(n: int, data: str = "sessions") -> list[list[dict]]:
    """``n`` conversations in the shape of ``--data`` (see the module docstring); the same for every run."""
    from training.bootstrap import corpus_load

    rng = random.Random(7)
    corpus = corpus_load()
    out = []
    for i in range(n):
        if data == "corpus":
            messages = list(corpus[i % len(corpus)])
        else:
            messages, topics = list(rng.choice(corpus)), 1
            while topics < 8 and rng.random() < 0.5:
                messages, topics = messages + rng.choice(corpus), topics + 1
        out.append(([{"role": "system", "content": SYSTEM_PROMPT}] if rng.random() < 0.5 else []) + messages)
    return out


class PeakMemory:
    """Peak resident memory (CPU) or peak allocated CUDA memory during a block."""

    def __init__(self, device: str):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        import torch

        self.cpu_started = time.process_time()
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = self.rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
        self.used = self.peak - self.start
        self.cpu_seconds = time.process_time() - self.cpu_started


def run_project(args, model_dir: Path, convs) -> dict:
    import transformers

    from training import pipeline, tokenising

    result_holder = {}
    original = transformers.Trainer.train

    def measured(self, *a, **k):  # peak memory of the training loop only, like the baseline
        with PeakMemory(args.device) as mem:
            out = original(self, *a, **k)
        result_holder["memory"], result_holder["cpu_seconds"] = mem.used, mem.cpu_seconds
        return out

    transformers.Trainer.train = measured
    config = pipeline.TrainConfig(
        base_model=str(model_dir), output_dir=Path(tempfile.mkdtemp()), epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=1e-3, lora_r=16, lora_alpha=32, max_length=1024,
        device=args.device, batching=args.batching, gradient_checkpointing=args.gradient_checkpointing,
    )
    tokenizer = pipeline.tokenizer_load(str(model_dir))
    rows = tokenising.conversations_tokenize(tokenizer, convs, max_length=1024)
    result = pipeline.adapter_train(config, convs, [], on_progress=None)
    lengths = [len(r["input_ids"]) for r in rows]
    return {"tokens_per_second": sum(lengths) * args.epochs / result.train_seconds, "seconds": result.train_seconds,
            "memory_bytes": result_holder["memory"], "cpu_seconds": result_holder["cpu_seconds"],
            "mean_length": sum(lengths) / len(lengths), "lengths": lengths,
            "batching": result.metrics["batching"] + (", gradient checkpointing" if
                                                      result.metrics["gradient_checkpointing"] else ", no checkpointing"),
            "steps": result.steps}


def run_baseline(args, model_dir: Path, convs) -> dict:
    """A plain TRL script: default SFTConfig batching, conversational dataset, same LoRA."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    bf16 = args.device == "cuda" and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer = SFTTrainer(
        model=str(model_dir),
        args=SFTConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                       num_train_epochs=args.epochs, learning_rate=1e-3, report_to="none", save_strategy="no",
                       use_cpu=args.device == "cpu", bf16=bf16, disable_tqdm=True, logging_steps=1000,
                       model_init_kwargs={"dtype": torch.bfloat16 if bf16 else torch.float32}),
        train_dataset=Dataset.from_list([{"messages": c} for c in convs]),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                               task_type="CAUSAL_LM"),
    )
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    with PeakMemory(args.device) as mem:
        started = time.monotonic()
        trainer.train()
        seconds = time.monotonic() - started
    return {"tokens_per_second": sum(lengths) * args.epochs / seconds, "seconds": seconds,
            "memory_bytes": mem.used, "cpu_seconds": mem.cpu_seconds, "mean_length": sum(lengths) / len(lengths),
            "batching": "padded (default)",
            "steps": trainer.state.global_step, "padded_fraction": padded_fraction(lengths, args.batch_size),
            "gradient_checkpointing": bool(trainer.args.gradient_checkpointing)}


def padded_fraction(lengths: list[int], batch_size: int, samples: int = 20) -> float:
    """Padded tokens / real tokens of random batches (each padded to its longest), averaged over shuffles."""
    rng, total = random.Random(0), 0.0
    for _ in range(samples):
        order = rng.sample(lengths, len(lengths))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        total += sum(len(b) * max(b) for b in batches) / sum(lengths)
    return total / samples


def model_flops_per_token(model_dir: Path, mean_length: float) -> tuple[float, int]:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model_dir)
    d, L, v, ff = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size, cfg.intermediate_size
    kv = cfg.num_key_value_heads * (d // cfg.num_attention_heads)
    n = L * (2 * d * d + 2 * d * kv + 3 * d * ff) + v * d  # matmul parameters incl. the (tied) LM head
    return 4 * n + 12 * L * d * mean_length, n


def child(args) -> None:
    import torch

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    convs = conversations(args.examples, args.data)
    runner = run_project if args.variant == "project" else run_baseline
    print(json.dumps(runner(args, Path(args.model_dir), convs)))


def run_child(variant: str, args, model_dir: Path) -> dict:
    cmd = [sys.executable, __file__, "--variant", variant, "--model-dir", str(model_dir), "--device", args.device,
           "--data", args.data, "--examples", str(args.examples), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--batching", args.batching,
           "--gradient-checkpointing", args.gradient_checkpointing, "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        sys.exit(f"{variant} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--data", choices=["sessions", "corpus"], default="sessions")
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, alternating; medians compared")
    parser.add_argument("--batching", default="auto", help="project pipeline batching (auto|padding_free|grouped|padded)")
    parser.add_argument("--gradient-checkpointing", default="auto", help="project pipeline (auto|on|off)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads in both variants (0: torch's default)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="accelerator peak for MFU (default: by GPU name)")
    parser.add_argument("--variant", choices=["project", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return child(args)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    runs: dict[str, list[dict]] = {"baseline": [], "project": []}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(args.preset, Path(tmp))
        for _ in range(args.repeats):
            for variant in ("baseline", "project"):
                runs[variant].append(run_child(variant, args, model_dir))
                r = runs[variant][-1]
                print(f"  {variant:8s} {r['tokens_per_second']:8.0f} tokens/s  {r['seconds']:6.1f} s  "
                      f"(CPU {r['cpu_seconds']:6.1f} s)  +{r['memory_bytes'] / 2**20:.0f} MiB  "
                      f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        flops_per_token, n_params = model_flops_per_token(model_dir, runs["project"][0]["mean_length"])

    base, proj = (median_run(runs[v]) for v in ("baseline", "project"))
    lengths = proj["lengths"]
    print(f"model: preset {args.preset}, {n_params / 1e6:.1f} M matmul parameters; device {args.device}; "
          f"{torch_threads(args.threads)} thread(s); {args.examples} conversations ({args.data}: mean {proj['mean_length']:.0f} tokens, median "
          f"{statistics.median(lengths):.0f}, {min(lengths)}-{max(lengths)}; random batches of {args.batch_size} "
          f"are {base['padded_fraction']:.2f}x padding), batch {args.batch_size}, {args.epochs:g} epoch(s), "
          f"median of {args.repeats}")
    base_name = "baseline (TRL defaults: padded" + (", checkpointing)" if base["gradient_checkpointing"] else ")")
    for name, r in ((base_name, base), (f"project ({proj['batching']})", proj)):
        print(f"{name:52s} {r['tokens_per_second']:10.0f} non-padding tokens/s  {r['seconds']:7.1f} s  "
              f"peak memory +{r['memory_bytes'] / 2**20:7.1f} MiB  ({r['steps']} steps)")
    print(f"throughput ratio (project / baseline): {proj['tokens_per_second'] / base['tokens_per_second']:.2f}x "
          f"(goal >= 1.5x)")
    cpu = {v: statistics.median(cpu_per_token(r) for r in runs[v]) for v in runs}
    print(f"CPU time per token, baseline / project (medians; less sensitive to other load): "
          f"{cpu['baseline'] / cpu['project']:.2f}x")
    if base["memory_bytes"] > 0:
        print(f"peak memory ratio (project / baseline): {proj['memory_bytes'] / base['memory_bytes']:.2f}x")
    if args.device == "cuda":
        import torch

        name = torch.cuda.get_device_name()
        peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS_BF16.items() if k in name), None)
        for label, r in (("baseline", base), ("project", proj)):
            achieved = r["tokens_per_second"] * flops_per_token / 1e12
            mfu = f"{100 * achieved / peak:.1f}% of {peak:g} TFLOP/s ({name})" if peak else "peak unknown"
            print(f"MFU {label}: {achieved:.1f} TFLOP/s achieved (4N + 12*L*d*T = {flops_per_token / 1e9:.2f} "
                  f"GFLOP/token), {mfu}")


def cpu_per_token(run: dict) -> float:
    return run["cpu_seconds"] / (run["tokens_per_second"] * run["seconds"])


def torch_threads(requested: int) -> int:
    import torch

    return requested or torch.get_num_threads()


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (its time, memory and steps belong together)."""
    ordered = sorted(runs, key=lambda r: r["tokens_per_second"])
    return ordered[(len(ordered) - 1) // 2]


if __name__ == "__main__":
    main()
