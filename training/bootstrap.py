"""Build a small local base model with no download (``manage.py bootstrap_base_model``).

A byte-level BPE tokenizer and a small Llama-style causal LM are trained from scratch on
``training/data/supportive_conversations.jsonl`` (text written for this project), long
enough that the model writes readable sentences. The result is an ordinary Hugging Face
model directory with a chat template that carries ``{% generation %}`` markers, so the
fine-tuning pipeline loads it through the same ``from_pretrained`` code paths as a real
base model (SmolLM2, Qwen2.5, ...).

No Django here; torch/transformers/tokenizers are imported inside the functions.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "supportive_conversations.jsonl"
MARKER_FILE = "bootstrap.json"

SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def chat_template(*, role_open: str, end: str) -> str:
    """A chat template with ``{% generation %}`` markers around each assistant turn.

    ``role_open`` opens a turn (``{role}`` stands for the role), ``end`` closes it. Assistant
    content and its end-of-turn token sit inside ``{% generation %}`` so assistant-only loss
    trains the stop token. No default system prompt is injected: the project sends its own.
    """
    before, after = role_open.split("{role}")
    assistant_open = f"{{{{ '{before}assistant{after}' }}}}"
    return (
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'assistant' -%}"
        f"{assistant_open}{{% generation %}}{{{{ message['content'] + '{end}' }}}}{{% endgeneration %}}{{{{ '\n' }}}}"
        "{%- else -%}"
        f"{{{{ '{before}' + message['role'] + '{after}' + message['content'] + '{end}\n' }}}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        f"{{%- if add_generation_prompt -%}}{assistant_open}{{%- endif -%}}"
    )


# Each turn renders as "<|role|>\n{content}<|end|>\n".
CHAT_TEMPLATE = chat_template(role_open="<|{role}|>\n", end="<|end|>")

DEFAULT_SYSTEM_PROMPT = "You are a supportive assistant. You are an AI, not a therapist."


@dataclass(frozen=True)
class BootstrapSpec:
    """Size and training budget of the bootstrap model."""

    vocab_size: int = 2000
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    block_size: int = 128
    batch_size: int = 16
    learning_rate: float = 3e-3
    max_steps: int = 160  # readable text from about 80 steps on; ~0.2-0.3 s a step on 2 idle cores
    max_seconds: float = 240.0  # safety cap for very busy machines
    seed: int = 1234


# The test suite's model: same code path, a fraction of the size and time.
TINY_SPEC = BootstrapSpec(
    vocab_size=400, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
    block_size=96, batch_size=8, max_steps=100, max_seconds=20.0,
)


def corpus_load(path: Path = CORPUS_PATH) -> list[list[dict]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["messages"] for line in fh if line.strip()]


def bootstrap_is_valid(directory: Path) -> bool:
    """A finished bootstrap directory has its marker and loadable weights and tokenizer."""
    info = marker_read(directory)
    return bool(info.get("files")) and all((Path(directory) / name).is_file() for name in info["files"])


def tokenizer_train(conversations: list[list[dict]], *, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [m["content"] for conv in conversations for m in conv]
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|end|>",
        pad_token="<|pad|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )


def _token_stream(tokenizer, conversations: list[list[dict]], rng: random.Random) -> list[int]:
    ids: list[int] = []
    for conv in conversations:
        messages = conv
        if rng.random() < 0.5:
            messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *conv]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
    return ids


def base_model_build(
    *,
    output_dir: Path,
    spec: BootstrapSpec = BootstrapSpec(),
    corpus_path: Path = CORPUS_PATH,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict:
    """Train tokenizer + model and save them to ``output_dir`` (written atomically)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    started = time.monotonic()
    rng = random.Random(spec.seed)
    torch.manual_seed(spec.seed)
    conversations = corpus_load(corpus_path)
    tokenizer = tokenizer_train(conversations, vocab_size=spec.vocab_size)
    stream = _token_stream(tokenizer, conversations, rng)
    blocks = torch.tensor(stream[: len(stream) // spec.block_size * spec.block_size]).view(-1, spec.block_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    warmup = max(1, spec.max_steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, spec.max_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    model.train()
    loss_value, step = float("nan"), 0
    for step in range(1, spec.max_steps + 1):
        batch = blocks[torch.randint(0, blocks.size(0), (spec.batch_size,))]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss.item()
        if step % 50 == 0:
            log(f"step {step}/{spec.max_steps} loss {loss_value:.3f}")
        if time.monotonic() - started > spec.max_seconds:
            break
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    info = _save(model, tokenizer, output_dir, spec=spec, steps=step, loss=loss_value, started=started)
    log(f"saved to {output_dir} ({info['parameters']:,} parameters, {step} steps, loss {loss_value:.3f})")
    return info


def _save(model, tokenizer, output_dir: Path, *, spec: BootstrapSpec, steps: int, loss: float, started: float) -> dict:
    info = {
        "kind": "bootstrap",
        "spec": asdict(spec),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps,
        "final_loss": loss,
        "seconds": round(time.monotonic() - started, 1),
    }
    return model_dir_save(model, tokenizer, output_dir, info=info)


def model_dir_save(model, tokenizer, output_dir: Path, *, info: dict,
                   fingerprint: Callable[[Path], str] | None = None) -> dict:
    """Save model + tokenizer with a marker listing the files; the directory appears whole or not at all.

    ``fingerprint(directory)``, when given, is recorded in the marker (what versions compare)."""
    import shutil
    import tempfile

    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bootstrap-", dir=output_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the inference host may read it as another user
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {**info, "files": sorted(p.name for p in tmp.iterdir() if p.is_file())}
        if fingerprint is not None:
            info["fingerprint"] = fingerprint(tmp)
        (tmp / MARKER_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        tmp.rename(output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def marker_read(directory: Path) -> dict:
    """The marker of a finished base model directory ({} when there is none)."""
    try:
        return json.loads((Path(directory) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def sample_reply(model_dir: Path, messages: list[dict], *, max_new_tokens: int = 40) -> str:
    """Greedy reply from a model directory (used to show the bootstrap model writes text)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)  # bf16 on disk computes slowly on many CPUs
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
