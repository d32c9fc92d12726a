"""Redaction suggestions: Presidio pattern recognizers (offline) + the patient's own
identifiers + the clinicians' deny list. No Django models here except through arguments.

Presidio is imported lazily and the analyzer is built once per process: importing it
costs seconds, so the web process pays only when a clinician first opens a transcript.
Offline: no spaCy model (``NoOpNlpEngine``), and ``tldextract`` (used by the e-mail
recognizer) reads its bundled public-suffix snapshot instead of downloading one.
Offline nothing detects arbitrary person names: clinicians remain the main control.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Presidio entity -> (our label, replacement)
ENTITY_LABELS: dict[str, tuple[str, str]] = {
    "EMAIL_ADDRESS": ("EMAIL", "[EMAIL]"),
    "PHONE_NUMBER": ("PHONE", "[PHONE]"),
    "URL": ("OTHER", "[URL]"),
    "IP_ADDRESS": ("OTHER", "[IP]"),
    "CREDIT_CARD": ("ID", "[ID]"),
    "IBAN_CODE": ("ID", "[ID]"),
    "US_SSN": ("ID", "[ID]"),
    "UK_NHS": ("ID", "[ID]"),
    "NATIONAL_ID": ("ID", "[ID]"),
    "DATE_TIME": ("DATE", "[DATE]"),
    "POSTAL_ADDRESS": ("ADDRESS", "[ADDRESS]"),
}
# Weak matches (bank-account-like digit runs and the like) are noise in therapy chat.
SCORE_THRESHOLD = 0.3
PHONE_REGIONS = ("US", "GB", "CA", "AU", "IE", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "MX")

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    "Terrace|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir"
)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
# (entity, name, regex, score): what Presidio's predefined set lacks for our patients.
EXTRA_PATTERNS = (
    ("POSTAL_ADDRESS", "street address",
     rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][a-z]+\s+){{1,3}}(?:{_STREET_TYPES})\b\.?", 0.6),
    ("POSTAL_ADDRESS", "UK postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b", 0.5),
    ("POSTAL_ADDRESS", "US state + ZIP", r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b", 0.5),
    # SSN-shaped numbers, including the ones Presidio's checksum rules reject as fake.
    ("NATIONAL_ID", "SSN-shaped", r"\b\d{3}-\d{2}-\d{4}\b", 0.5),
    ("DATE_TIME", "month-name date",
     rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?,?\s+\d{{4}}|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b",
     0.6),
)


@dataclass(frozen=True)
class Suggestion:
    start: int
    end: int
    label: str
    replacement: str
    detector: str


@dataclass(frozen=True)
class Identifiers:
    """The patient's own identifiers and the deny list, matched literally."""

    names: tuple[str, ...] = ()  # first name, last name, username
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    deny_terms: tuple[tuple[str, str], ...] = ()  # (term, label)


# Presidio logs every analyze call at INFO.
logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)

_analyzer = None
_lock = threading.Lock()


def _use_bundled_public_suffix_list() -> None:
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tx.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def analyzer():
    """The process-wide Presidio analyzer, built on first use."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                _analyzer = _build_analyzer()
    return _analyzer


def _build_analyzer():
    _use_bundled_public_suffix_list()
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        NhsRecognizer,
        PhoneRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    recognizers = [
        EmailRecognizer(), PhoneRecognizer(supported_regions=PHONE_REGIONS), UrlRecognizer(),
        IpRecognizer(), CreditCardRecognizer(), DateRecognizer(), UsSsnRecognizer(),
        NhsRecognizer(), IbanRecognizer(),
    ]
    for entity, name, regex, score in EXTRA_PATTERNS:
        recognizers.append(
            PatternRecognizer(supported_entity=entity, name=f"Therapist {name}",
                              patterns=[Pattern(name, regex, score)])
        )
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "noop"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def _literal_pattern(term: str) -> re.Pattern:
    # Word boundaries only where the term starts/ends with a word character.
    left = r"(?<!\w)" if term[:1].isalnum() else ""
    right = r"(?!\w)" if term[-1:].isalnum() else ""
    return re.compile(left + re.escape(term) + right, re.IGNORECASE)


def _phone_pattern(phone: str) -> re.Pattern | None:
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return None
    core = digits[-10:] if len(digits) > 10 else digits  # national number, any prefix
    return re.compile(r"(?<!\d)" + r"[\s().\-]*".join(core) + r"(?!\d)")


def _identifier_suggestions(text: str, ids: Identifiers) -> Iterable[Suggestion]:
    literal = [(n, "NAME", "[NAME]", "PATIENT_NAME") for n in ids.names if len(n) >= 2]
    literal += [(e, "EMAIL", "[EMAIL]", "PATIENT_EMAIL") for e in ids.emails if e]
    literal += [(t, label, f"[{label}]", "DENY_LIST") for t, label in ids.deny_terms if t]
    for term, label, replacement, detector in literal:
        for m in _literal_pattern(term).finditer(text):
            yield Suggestion(m.start(), m.end(), label, replacement, detector)
    for phone in ids.phones:
        pattern = _phone_pattern(phone)
        if pattern is not None:
            for m in pattern.finditer(text):
                yield Suggestion(m.start(), m.end(), "PHONE", "[PHONE]", "PATIENT_PHONE")


def _pattern_suggestions(text: str) -> Iterable[Suggestion]:
    if not text.strip():
        return
    for r in analyzer().analyze(text=text, language="en", score_threshold=SCORE_THRESHOLD):
        label, replacement = ENTITY_LABELS.get(r.entity_type, ("OTHER", "[REDACTED]"))
        start, end = r.start, r.end
        while end > start and text[end - 1] in ".,;:!?)":  # URL patterns swallow punctuation
            end -= 1
        if end > start:
            yield Suggestion(start, end, label, replacement, r.entity_type)


_PHONE_RUN = re.compile(r"\+?[\d(][\d\s().\-]{5,}\d")
_TOKEN = re.compile(r"\S+")


def _valid_phone(candidate: str) -> bool:
    import phonenumbers

    for region in PHONE_REGIONS:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _phone_run_suggestions(text: str) -> Iterable[Suggestion]:
    """Phone numbers inside longer runs of digits (two numbers in a row, a number next to an
    id), which the phone matcher rejects as one invalid candidate: longest valid pieces."""
    for run in _PHONE_RUN.finditer(text):
        tokens = list(_TOKEN.finditer(run.group()))
        i = 0
        while i < len(tokens):
            for j in range(min(len(tokens), i + 6), i, -1):
                start, end = tokens[i].start(), tokens[j - 1].end()
                piece = run.group()[start:end].strip("().-")
                if sum(c.isdigit() for c in piece) >= 7 and _valid_phone(piece):
                    yield Suggestion(run.start() + start, run.start() + end, "PHONE", "[PHONE]", "PHONE_NUMBER")
                    i = j
                    break
            else:
                i += 1


# Which suggestion wins when two overlap: the patient's own identifiers, then specific
# patterns, then generic ones (a URL inside an e-mail address is the e-mail).
_PRIORITY = {"PATIENT_NAME": 0, "PATIENT_EMAIL": 0, "PATIENT_PHONE": 0, "DENY_LIST": 1,
             "EMAIL_ADDRESS": 2, "CREDIT_CARD": 2, "US_SSN": 2, "NATIONAL_ID": 3, "IBAN_CODE": 2,
             "UK_NHS": 3, "PHONE_NUMBER": 4, "POSTAL_ADDRESS": 4, "IP_ADDRESS": 4, "DATE_TIME": 5,
             "URL": 6}


def merge_overlapping(suggestions: Iterable[Suggestion]) -> list[Suggestion]:
    """Non-overlapping spans covering everything suggested; overlaps become their union,
    labelled by the most specific detector."""
    merged: list[Suggestion] = []
    for s in sorted(suggestions, key=lambda s: (s.start, -s.end)):
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            best = min((last, s), key=lambda x: (_PRIORITY.get(x.detector, 9), -(x.end - x.start)))
            merged[-1] = Suggestion(last.start, max(last.end, s.end), best.label, best.replacement,
                                    best.detector)
        else:
            merged.append(s)
    return merged


def suggest(text: str, identifiers: Identifiers = Identifiers()) -> list[Suggestion]:
    """Every span of ``text`` worth redacting, sorted and non-overlapping."""
    found = merge_overlapping([*_identifier_suggestions(text, identifiers), *_pattern_suggestions(text),
                               *_phone_run_suggestions(text)])
    # A match can hide another (a phone number directly followed by an id is one failed
    # candidate for the phone matcher): blank out what was found, keeping offsets, and
    # scan again until nothing new appears.
    for _ in range(3):
        if not found:
            break
        masked = apply(text, [(s.start, s.end, " " * (s.end - s.start)) for s in found])
        more = [s for s in _pattern_suggestions(masked) if masked[s.start:s.end].strip()]
        if not more:
            break
        found = merge_overlapping([*found, *more])
    return found


def apply(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) span replaced; spans sorted, disjoint."""
    if not spans:
        return text
    parts, pos = [], 0
    for start, end, replacement in spans:
        parts.append(text[pos:start])
        parts.append(replacement)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
