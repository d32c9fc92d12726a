"""The safety screens every message passes through (the interface the chat flow calls).

``screen_input`` runs on every patient message before any language model is asked;
``screen_output`` on every model reply before the patient or the database sees it.
INTERIM implementation: a short phrase list; the clinical-safety work replaces the bodies
(phrase lists, patterns, negation/idiom handling, MiniLM similarity) keeping the signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NONE, CONCERN, CRISIS = "none", "concern", "crisis"


@dataclass(frozen=True)
class InputScreen:
    level: str = NONE  # none | concern | crisis
    categories: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=())

    @property
    def is_crisis(self) -> bool:
        return self.level == CRISIS

    @property
    def is_concern(self) -> bool:
        return self.level == CONCERN


@dataclass(frozen=True)
class OutputScreen:
    safe: bool = True
    categories: tuple[str, ...] = ()
    replacement: str = ""  # what the patient gets instead, when not safe


_INTERIM_CRISIS = ("kill myself", "end my life", "suicide")


def screen_input(text: str) -> InputScreen:
    lowered = text.lower()
    hits = tuple(p for p in _INTERIM_CRISIS if p in lowered)
    if hits:
        return InputScreen(CRISIS, ("suicide",), hits)
    return InputScreen()


def screen_output(text: str) -> OutputScreen:
    return OutputScreen()
