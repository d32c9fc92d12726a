"""The safety screens every message passes through (the interface the chat flow calls).

``screen_input`` runs on every patient message before any language model is asked;
``screen_output`` on every model reply (and on streamed partial text at sentence
boundaries) before the patient or the database sees it.

The input screen has three layers, cheapest first:
1. exceptions (idioms, negations) blank out spans that must not count as risk;
2. clinician-maintained phrase lists and patterns (``ScreeningRule`` rows, cached in
   process and refreshed when they change) give a level and category;
3. when the rules have not already said ``crisis``, a logistic-regression classifier on
   all-MiniLM-L6-v2 embeddings (numpy, loaded once) catches indirect phrasings.
"""

from __future__ import annotations

import logging
import re

from conversations.safety.rules import current_rules, normalise
from conversations.safety.verdicts import CONCERN, CRISIS, LEVEL_RANK, NONE, InputScreen, OutputScreen

# Classifier thresholds on P(risk) = 1 - P(none) for the riskiest chunk of a message, from
# 5-fold cross-validation on the training exemplars (never the evaluation set): at 0.60 the
# rules + classifier caught 0.856 of held-out risk exemplars with 0.067 false alarms on the
# (deliberately hard) non-risk exemplars; 0.65 would give 0.830 / 0.045 (with the 841 exemplars of
# 2026-11-30: 0.804 / 0.090 at 0.60; 0.50 breaks the 5 % false-alarm limit). Recall wins: a
# "concern" false alarm only appends resources to a normal reply. See README, section safety.
CLASSIFIER_CRISIS = 0.80
CLASSIFIER_CONCERN = 0.60
CHUNK_WORDS = 40  # long messages are classified sentence-window by sentence-window
# A sentence longer than a chunk (no punctuation, or line breaks, which normalising removes) is
# classified in overlapping windows of this many words, half a window apart: otherwise risk at
# its end is averaged away by the rest, or cut off at the encoder's 256 tokens.
RUN_ON_WINDOW_WORDS = 20

logger = logging.getLogger(__name__)


# --- rules ------------------------------------------------------------------------------


# --- input screen -----------------------------------------------------------------------


def _chunks(text: str) -> list[str]:
    """Sentence windows of at most ``CHUNK_WORDS`` words, so one risky sentence in a long
    message is not averaged away by the rest of it; longer (run-on) sentences in overlapping
    windows of ``RUN_ON_WINDOW_WORDS`` words. The encoder embeds them all in one pass."""
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


def _classify(masked: str) -> tuple[str, str | None, str | None]:
    from conversations.safety.classifier import CLASSES, get_classifier
    from conversations.safety.embedding import get_encoder

    chunks = _chunks(masked)
    if not chunks:
        return NONE, None, None
    classifier = get_classifier()
    embeddings = get_encoder().encode(chunks)
    probs = classifier.probabilities(embeddings)
    worst = int((1.0 - probs[:, 0]).argmax())
    p_risk = float(1.0 - probs[worst, 0])
    if p_risk < CLASSIFIER_CONCERN:
        return NONE, None, None
    category = CLASSES[int(probs[worst, 1:].argmax()) + 1]
    level = CRISIS if p_risk >= CLASSIFIER_CRISIS else CONCERN
    example, similarity = classifier.nearest_exemplar(embeddings[worst])
    return level, category, f"classifier: {category} p={p_risk:.2f} (nearest exemplar {similarity:.2f}: {example!r})"


def screen_input(text: str, *, use_model: bool = True) -> InputScreen:
    """Screen a patient message. ``use_model=False`` is the rules-only baseline (benchmark)."""
    rules = current_rules()
    masked = rules.mask(normalise(text or ""))
    level, categories, reasons = NONE, [], []
    for rule in rules.matches(masked):
        if LEVEL_RANK[rule.level] > LEVEL_RANK[level]:
            level = rule.level
        if rule.category and rule.category not in categories:
            categories.append(rule.category)
        reasons.append(f"rule {rule.id or '-'}: {rule.note or rule.text[:60]}")
    if use_model and level != CRISIS:
        try:
            model_level, category, reason = _classify(masked)
        except Exception:  # weights missing, out of memory: degrade to the rules, visibly
            logger.exception("Safety classifier failed; screening with the rules only, at least concern")
            model_level, category, reason = CONCERN, None, "classifier unavailable: rules only"
        if LEVEL_RANK[model_level] > LEVEL_RANK[level]:
            level = model_level
        if category and category not in categories:
            categories.append(category)
        if reason:
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
    """Load the encoder and classifier now (about 0.3-0.6 s, ~90 MB) instead of on the first
    patient message; for server start-up hooks (e.g. gunicorn ``post_worker_init``)."""
    from conversations.safety.classifier import get_classifier
    from conversations.safety.embedding import get_encoder

    get_encoder()
    get_classifier()
    screen_input("warm-up")
