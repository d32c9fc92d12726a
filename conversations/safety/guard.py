"""The optional guard model (``SAFETY_GUARD_MODEL``): what it is asked, how its answer reads,
and how its verdict combines with the local screen's. Pure; the call itself is made by the
chat flow (``conversations.services.guard``), beside the chat model's.

Two answer formats are read:

- **Llama Guard** (any model whose name contains ``guard``): it is sent the conversation's
  last turns as they are and answers ``safe``, or ``unsafe`` and a line of category codes
  (``S1,S11``). Mapped: S11 (suicide & self-harm) -> suicide, S1 (violent crimes) and S9
  (indiscriminate weapons) -> harm to others, S3 (sex-related crimes) and S4 (child sexual
  exploitation) -> abuse / unsafe home, each at **crisis** (Llama Guard has no levels). Its
  other codes (defamation, elections, intellectual property, ...) are no clinical risk to the
  patient and raise nothing.
- **A prompted classifier** (any other model): it gets ``CLASSIFIER_PROMPT`` and answers one
  JSON object ``{"level": "none|concern|crisis", "category": "..."}``.

Anything else is garbage and counts as no answer. The guard can only raise the level.
"""

from __future__ import annotations

import json
import re

from conversations.safety.defaults import CATEGORIES
from conversations.safety.verdicts import LEVEL_RANK, NONE, InputScreen

LLAMA_GUARD_CATEGORIES = {
    "S1": "harm_to_others", "S3": "abuse_unsafe_home", "S4": "abuse_unsafe_home",
    "S9": "harm_to_others", "S11": "suicide",
}
GUARD_TURNS = 5  # the latest patient message and up to two earlier ones, with the replies between

CLASSIFIER_PROMPT = (
    "You are a clinical safety classifier for a mental-health chat service. Read the patient's "
    "latest message in the light of their earlier messages and classify the LATEST message only. "
    "Levels: crisis (the patient or someone else may be in danger now or soon: intent, a plan, "
    "means, saying goodbye, an attempt, abuse happening now, a medical emergency), concern (a "
    "risk signal without immediacy: passive wishes to be dead, hopelessness, resisted urges, "
    "frightening behaviour at home), none (everything else, including idioms, negations, history "
    "told as recovery, talk about films or other people, jokes, medical questions, ordinary "
    "distress). Categories: suicide, self_harm, harm_to_others, abuse_unsafe_home, "
    'medical_emergency. Answer with one JSON object and nothing else: {"level": "...", "category": '
    '"..."} (category "none" when the level is none).'
)


def guard_turns(prompt: list[dict]) -> list[dict]:
    """The conversation's last turns from a chat prompt (no system message), starting with a
    patient turn and ending with the latest patient message."""
    turns = [m for m in prompt if m.get("role") in ("user", "assistant")][-GUARD_TURNS:]
    while turns and turns[0]["role"] != "user":
        turns = turns[1:]
    return turns


def guard_messages(model: str, turns: list[dict]) -> list[dict]:
    if "guard" in model.lower():
        return turns
    earlier = [t["content"] for t in turns[:-1] if t["role"] == "user"]
    latest = turns[-1]["content"] if turns else ""
    text = "".join(f"Earlier message: {c}\n" for c in earlier) + f"Latest message: {latest}"
    return [{"role": "system", "content": CLASSIFIER_PROMPT}, {"role": "user", "content": text}]


def guard_parse(text: str, model: str = "guard") -> InputScreen | None:
    """The guard's verdict, or None for an answer that is neither format (garbage)."""
    text = (text or "").strip()
    first, _, rest = text.partition("\n")
    word = first.strip().lower()
    if word == "safe":
        return InputScreen()
    if word == "unsafe":
        codes = re.findall(r"\bS(\d{1,2})\b", rest.upper())
        if not codes:
            return None
        categories = tuple(dict.fromkeys(LLAMA_GUARD_CATEGORIES[f"S{c}"] for c in codes if f"S{c}" in LLAMA_GUARD_CATEGORIES))
        if not categories:
            return InputScreen()
        return InputScreen("crisis", categories, (f"guard {model}: unsafe {','.join('S' + c for c in codes)}",))
    return _classifier_parse(text, model)


def _classifier_parse(text: str, model: str) -> InputScreen | None:
    match = re.search(r"\{.*\}", text, re.S)
    try:
        answer = json.loads(match.group(0)) if match else None
    except ValueError:
        return None
    if not isinstance(answer, dict) or answer.get("level") not in LEVEL_RANK:
        return None
    if answer["level"] == NONE:
        return InputScreen()
    category = answer.get("category")
    if category not in CATEGORIES:
        return None
    return InputScreen(answer["level"], (category,), (f"guard {model}: {answer['level']} {category}",))


def guard_combine(local: InputScreen, guard: InputScreen | None) -> InputScreen:
    """The local verdict, raised (never lowered) by the guard's."""
    if guard is None or LEVEL_RANK[guard.level] <= LEVEL_RANK[local.level]:
        return local
    categories = tuple(dict.fromkeys((*local.categories, *guard.categories)))
    return InputScreen(guard.level, categories, (*local.reasons, *guard.reasons))
