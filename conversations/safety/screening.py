"""The safety screens every message passes through (the interface the chat flow calls).

``screen_input`` runs on every patient message before any language model is asked;
``screen_output`` on every model reply (and on streamed partial text at sentence
boundaries) before the patient or the database sees it.

The input screen reads the message with the patient's few messages before it (``context``):
1. exceptions (idioms, negations) blank out spans that must not count as risk;
2. clinician-maintained phrase lists and patterns (``ScreeningRule`` rows, cached in
   process and refreshed when they change) give a level and category: a floor for explicit
   statements, which only the model's near-certainty that the message is no risk overrules;
3. the screening model (MiniLM fine-tuned end to end, ``screen_model``) reads the message
   with its context and gives P(none / concern / crisis) and the category; its thresholds are
   in its manifest. Long messages are read sentence-window by sentence-window.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from conversations.safety.rules import current_rules, normalise
from conversations.safety.verdicts import CONCERN, CRISIS, LEVEL_RANK, NONE, InputScreen, OutputScreen

# A match of a rule marked ``overrulable`` (the shipped ones; never those clinicians add) stands
# unless the model gives the message P(risk) below this: on the training batch held out from the
# model (written apart from the rules' author), the shipped rules flagged 8 % of its hard
# non-risk messages (negations, recovery, idioms: "not suicidal, just sad", "two years clean from
# self harm"); overruling at P(risk) < 0.05 removed most of those at no cost in recall there
# (docs/safety.md, "rules").
RULE_OVERRULE_BELOW = 0.05


def _overruled_level(rule) -> str:
    """What an overrulable (shipped) rule's match counts for when the model is nearly certain the
    message is no risk: a concern rule then counts for nothing; a crisis rule (an explicit
    statement) is a floor: it still counts as concern (resources, guidance in the prompt), never
    nothing. Clinicians' own rules are never overrulable."""
    if not rule.overrulable:
        return rule.level
    return CONCERN if rule.level == CRISIS else NONE


CHUNK_WORDS = 40  # long messages are classified sentence-window by sentence-window
# A sentence longer than a chunk (no punctuation, or line breaks, which normalising removes) is
# classified in overlapping windows of this many words, half a window apart: otherwise risk at
# its end is averaged away by the rest, or cut off at the encoder's input length.
RUN_ON_WINDOW_WORDS = 20

logger = logging.getLogger(__name__)


def _chunks(text: str) -> list[str]:
    """Sentence windows of at most ``CHUNK_WORDS`` words, so one risky sentence in a long
    message is not averaged away by the rest of it; longer (run-on) sentences in overlapping
    windows of ``RUN_ON_WINDOW_WORDS`` words. The encoder reads them all in one pass."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?\n])\s+", text) if re.search(r"[a-z]{2}", s)]
    chunks, current = [], []
    window = RUN_ON_WINDOW_WORDS
    step = max(window // 2, 1)
    for sentence in sentences:
        words = sentence.split()
        if len(words) > CHUNK_WORDS:
            if current:
                chunks.append(" ".join(current))
                current = []
            chunks.extend(" ".join(words[i : i + window]) for i in range(0, len(words) - step, step))
            continue
        if current and len(current) + len(words) > CHUNK_WORDS:
            chunks.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


def _model_verdict(masked: str, context: list[str]) -> tuple[str, str | None, float, str]:
    """(level, category, P(risk), reason) of the riskiest window; the first window is read
    after the conversation's context, the others after nothing."""
    from conversations.safety.screen_model import get_screen_model

    chunks = _chunks(masked)
    if not chunks:
        return NONE, None, 0.0, ""
    model = get_screen_model()
    items = [(chunks[0], context), *((chunk, []) for chunk in chunks[1:])]
    levels, categories = model.probabilities(model.inputs(items))
    verdicts = [model.level_of(row) for row in levels]
    p_risk = levels[:, 1] + levels[:, 2]
    worst = max(range(len(chunks)), key=lambda i: (LEVEL_RANK[verdicts[i]], p_risk[i]))
    level, risk = verdicts[worst], float(p_risk[worst])
    category = model.category_of(categories[worst])
    reason = (f"model {model.version}: {category if level != NONE else 'no risk'} p(risk)={risk:.2f} "
              f"p(crisis)={float(levels[worst, 2]):.2f}")
    return level, (category if level != NONE else None), risk, reason


def screen_input(text: str, *, context: Sequence[str] = (), use_model: bool = True) -> InputScreen:
    """Screen a patient message read after ``context`` (the patient's earlier messages in the
    conversation, oldest first; the verdict is about ``text``). ``use_model=False`` is the
    rules-only baseline (benchmark)."""
    rules = current_rules()
    masked = rules.mask(normalise(text or ""))
    matched = rules.matches(masked)
    model_level, category, reason, p_risk = NONE, None, "", None
    if use_model:
        try:
            earlier = [rules.mask(normalise(c or "")) for c in context]
            model_level, category, p_risk, reason = _model_verdict(masked, earlier)
        except Exception:  # artefact refused, out of memory: degrade to the rules, visibly
            logger.exception("Safety screening model failed; screening with the rules only, at least concern")
            model_level, category, p_risk, reason = CONCERN, None, None, "screening model unavailable: rules only"
    overruling = matched and use_model and p_risk is not None and p_risk < RULE_OVERRULE_BELOW
    levels = {rule: _overruled_level(rule) if overruling else rule.level for rule in matched}
    if overruling and any(levels[r] != r.level for r in matched):
        logger.info("Rules %s lowered by the screening model (%s)",
                    [r.id for r in matched if levels[r] != r.level], reason)
    matched = [rule for rule in matched if levels[rule] != NONE]
    level, categories, reasons = NONE, [], []
    for rule in matched:
        if LEVEL_RANK[levels[rule]] > LEVEL_RANK[level]:
            level = levels[rule]
        if rule.category and rule.category not in categories:
            categories.append(rule.category)
        reasons.append(f"rule {rule.id or '-'}: {rule.note or rule.text[:60]}")
    if use_model:
        if LEVEL_RANK[model_level] > LEVEL_RANK[level]:
            level = model_level
        if category and category not in categories:
            categories.append(category)
        if reason and model_level != NONE:
            reasons.append(reason)
    if level == NONE:
        return InputScreen()
    return InputScreen(level, tuple(categories), tuple(reasons))


# --- output screen ----------------------------------------------------------------------

_NOT = r"(?<!not )(?<!never )(?<!n't )"
OUTPUT_RULES: dict[str, re.Pattern] = {
    "self_harm_method": re.compile(
        r"\b(?:lethal|fatal|deadly|toxic)\s+(?:dose|amount|quantity)\b"
        r"|\bhow\s+(?:many|much)\s+(?:\w+\s+)?(?:pills|tablets|mg|milligrams)\b.{0,60}\b(?:die|kill|lethal|fatal|overdose)"
        r"|\b(?:cut|slit|slash)(?:ting)?\s+(?:\w+\s+){0,3}(?:wrists?|veins?|arter(?:y|ies))\b"
        r"|\b(?:tie|make|use)\s+(?:a\s+)?(?:noose|ligature)\b|\bhang(?:ing)?\s+yourself\b"
        r"|\b(?:most\s+)?(?:effective|painless|reliable|quick(?:est)?|easiest)\s+(?:way|method)s?\s+to\s+(?:die|kill\s+yourself|end\s+(?:your|it))"
        r"|\b(?:to|can|could)\s+overdose\s+(?:on|with)\b|\bcut\s+deeper\b"
        r"|\bjump(?:ing)?\s+(?:off|from)\s+(?:a|the)\s+(?:bridge|building|roof|height)\b.{0,40}\b(?:sure|enough|guarantee|fatal)",
    ),
    "encourages_harm": re.compile(
        rf"\byou\s+should\s+(?:just\s+|really\s+)?(?:kill|hurt|harm|cut|end)\s+(?:yourself|your\s+life|him|her|them|it\s+all)\b"
        rf"|{_NOT}\b(?:just\s+)?(?:go\s+ahead\s+and|you\s+could)\s+(?:kill|hurt|harm|cut|end)\s+(?:yourself|your\s+life|him|her|them)\b"
        rf"|(?<!don't )(?<!not )(?<!never )\bkill\s+yourself\b"
        r"|\b(?:everyone|they|your\s+family)\s+(?:would|will)\s+be\s+better\s+off\s+without\s+you\b"
        r"|\byou\s+deserve\s+to\s+(?:die|suffer|be\s+hurt|feel\s+pain)\b"
        r"|\b(?:they|he|she)\s+deserves?\s+to\s+(?:die|be\s+hurt|suffer)\b",
    ),
    "claims_human_or_therapist": re.compile(
        r"\bi\s*(?:am|'m)\s+(?:a\s+|an\s+|your\s+)?(?:real\s+|actual\s+)?(?:human(?:\s+being)?|person|licensed\s+\w+|"
        r"therapist|psychologist|psychiatrist|counsel+or|doctor|clinician|social\s+worker)\b"
        r"|(?<!such )\bas\s+(?:your|a)\s+(?:licensed\s+|real\s+)?(?:therapist|psychologist|psychiatrist|counsel+or|doctor)\s*,?\s+(?:i|my)\b"
        r"|\bi\s*(?:am|'m)\s+not\s+(?:an?\s+)?(?:ai|bot|robot|machine|chatbot|computer\s+program)\b"
        r"|\bmy\s+(?:therapy\s+)?(?:license|licence|clinical\s+practice)\b",
    ),
}


def screen_output(text: str) -> OutputScreen:
    """Regular expressions only (about a microsecond per sentence): it runs on partial text."""
    lowered = normalise(text or "")
    categories = tuple(name for name, regex in OUTPUT_RULES.items() if regex.search(lowered))
    if not categories:
        return OutputScreen()
    from conversations.safety.services import output_replacement_text

    return OutputScreen(safe=False, categories=categories, replacement=output_replacement_text())


def warm_up() -> None:
    """Load and verify the screening model now (about 1 s) instead of on the first patient
    message; for server start-up hooks (e.g. gunicorn ``post_worker_init``)."""
    from conversations.safety.screen_model import get_screen_model

    get_screen_model()
    screen_input("warm-up")
