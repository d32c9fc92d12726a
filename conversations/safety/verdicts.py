"""What the screens say about a message: levels, categories, and a replacement for unsafe replies.

Plain values with no dependencies, so every part of the screen (and the chat flow) can share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NONE, CONCERN, CRISIS = "none", "concern", "crisis"
LEVEL_RANK = {NONE: 0, CONCERN: 1, CRISIS: 2}


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
