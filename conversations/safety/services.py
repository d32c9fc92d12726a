"""Safety services the chat flow calls (interface; the clinical-safety work fills them in)."""

from __future__ import annotations

from conversations.safety.screening import InputScreen, OutputScreen

CRISIS_REPLY = (
    "I'm really glad you told me. What you're describing sounds serious, and you deserve "
    "support from a person right now. I'm an AI and can't help in an emergency.\n\n"
    "- Call or text 988 (Suicide & Crisis Lifeline, US), or chat at 988lifeline.org\n"
    "- Call 911 if you are in immediate danger"
)


def crisis_reply_text(*, screen: InputScreen) -> str:
    """The fixed, clinician-approved reply for a crisis-level message."""
    return CRISIS_REPLY


def concern_system_addendum(*, screen: InputScreen) -> str:
    """Added to the system prompt when the input screen says ``concern``."""
    return ""


def concern_resources_text(*, screen: InputScreen) -> str:
    """Appended to the model's reply when the input screen says ``concern``."""
    return ""


def conversation_flag(*, conversation, message, screen: InputScreen) -> None:
    """Flag the conversation for urgent clinician review and notify clinicians."""


def output_replacement_record(*, message, screen: OutputScreen) -> None:
    """Record that a model reply was replaced by the safe template."""


def resources_for_display() -> list[dict]:
    """Crisis resources for the help page and the API's ``safety.resources``."""
    return [
        {"name": "988 Suicide & Crisis Lifeline", "contact": "Call or text 988", "url": "https://988lifeline.org"},
        {"name": "Emergency services", "contact": "Call 911", "url": ""},
    ]
