"""Time to a model version on the real base model: the pipeline on ~100 approved messages.

    .venv/bin/python bench/train_base_model.py [--base-model DIR] [--variants default,epochs1,...]

Why: the loop closes only if a run on a realistic first batch of curated data (the
AUTO_TRAIN_THRESHOLD default, 100 new approved messages) finishes in minutes on the
training host. This runs ``training.pipeline.adapter_train`` with the defaults the service
uses (``training/services.py`` ``train_config``: 3 epochs, batch 8, lr 1e-3, LoRA r16 on all
linear layers, max_length 1024) on SmolLM2-135M-Instruct (converted into a temporary
directory unless ``--base-model`` is given), on corpus conversations with the project's
system prompt first, as ``clinicians.selectors.training_examples`` builds them; 10% of the
conversations held out, as TRAIN_EVAL_FRACTION. Goal: <= 120 s on 2 CPU cores.

Printed per variant: training seconds (the trainer's loop), wall seconds (load + tokenise +
train + evaluate + save), held-out perplexity before -> after. Variants change one thing
each, to show what brings a run under the goal and what it costs in perplexity.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SYSTEM_PROMPT = (  # therapist_ai/settings.py _DEFAULT_SYSTEM_PROMPT
    "You are Therapist AI, a supportive conversational assistant. You are an AI, not a human "
    "and not a licensed therapist, and you say so if asked. Listen carefully, reflect feelings, "
    "ask gentle open questions and suggest evidence-based coping ideas (grounding, breathing, "
    "journaling, reaching out to trusted people). Keep replies short and warm. Never give "
    "medical, legal or medication advice. If someone may be in danger, encourage them to "
    "contact emergency services or a crisis line right away."
)
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
VARIANTS = {
    "default": {},
    "epochs1": {"epochs": 1.0},
    "epochs2": {"epochs": 2.0},
    "attn_only": {"lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
    "max_length256": {"max_length": 256},
    "epochs2_attn": {"epochs": 2.0, "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
    # bf16 base weights and autocast on CPU (LoRA weights stay fp32): not a TrainConfig option today,
    # the pipeline's device_choose is patched for the run (bf16 is fast on CPUs with AVX512-BF16/AMX)
    "bf16": {"_dtype": "bfloat16"},
    "bf16_epochs2": {"_dtype": "bfloat16", "epochs": 2.0},
    # LoRA on the top 10 of 30 layers only: the backward pass stops there (not a TrainConfig option
    # today; peft.LoraConfig is wrapped for the run)
    "top10": {"_lora": {"layers_to_transform": list(range(20, 30))}, "lora_target_modules": ALL_LINEAR},
    "top10_epochs2": {"_lora": {"layers_to_transform": list(range(20, 30))}, "lora_target_modules": ALL_LINEAR,
                      "epochs": 2.0},
    # one epoch in twice as many, smaller steps: the same compute, more optimizer updates
    "epochs1_batch4": {"epochs": 1.0, "batch_size": 4},
}


def dataset(messages: int, eval_fraction: float = 0.1) -> tuple[list, list]:
    """Corpus conversations until about ``messages`` user+assistant messages; every 10th held out."""
    from training.bootstrap import corpus_load

    picked, count = [], 0
    for conv in corpus_load():
        if count >= messages:
            break
        picked.append([{"role": "system", "content": SYSTEM_PROMPT}, *conv])
        count += len(conv)
    every = max(2, round(1 / eval_fraction))
    train = [c for i, c in enumerate(picked) if i % every != every - 1]
    held_out = [c for i, c in enumerate(picked) if i % every == every - 1]
    # a held-out set of one or two conversations is noise: score on 20 more, never trained on
    held_out += [[{"role": "system", "content": SYSTEM_PROMPT}, *c] for c in corpus_load()[-20:]]
    return train, held_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", default=None, help="converted base model dir (default: convert into a temp dir)")
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--variants", default="default,epochs1,attn_only")
    args = parser.parse_args()

    from training import pipeline
    from training.pipeline import TrainConfig, adapter_train

    base = args.base_model
    if base is None:
        from training.base_models import smollm2_convert

        base = str(Path(tempfile.mkdtemp(prefix="bench-base-")) / "base_model")
        smollm2_convert(output_dir=Path(base), log=print)
    train, held_out = dataset(args.messages)
    print(f"data: {len(train)} training conversations ({sum(len(c) - 1 for c in train)} messages), "
          f"{len(held_out)} held out; base {base}")
    defaults = TrainConfig(base_model=base, output_dir=Path("."))  # the service's defaults
    import peft

    device_choose, lora_config = pipeline.device_choose, peft.LoraConfig
    for name in args.variants.split(","):
        changes = dict(VARIANTS[name])
        dtype, lora = changes.pop("_dtype", None), changes.pop("_lora", None)
        pipeline.device_choose = (lambda _r, d=dtype: ("cpu", d)) if dtype else device_choose
        peft.LoraConfig = (lambda *a, extra=lora, **k: lora_config(*a, **k, **extra)) if lora else lora_config
        config = replace(defaults, output_dir=Path(tempfile.mkdtemp(prefix=f"bench-{name}-")), **changes)
        started, cpu = time.monotonic(), time.process_time()
        result = adapter_train(config, train, held_out)
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        m = result.metrics
        print(f"{name:>14}: train {result.train_seconds:6.1f} s, wall {wall:6.1f} s, {result.steps} steps, "
              f"held-out perplexity {m['base_eval_perplexity']:.2f} -> {m['eval_perplexity']:.2f} "
              f"(goal <= 120 s: {'met' if wall <= 120 else 'NOT met'}); CPU {cpu:.0f} s, load average "
              f"{os.getloadavg()[1]:.1f} (the machine may be shared)", flush=True)


if __name__ == "__main__":
    main()
