"""Clinician-maintained screening rules: phrase lists, patterns and exceptions.

``ScreeningRule`` rows (edited in the admin) are compiled into a ``RuleSet`` kept in process
and refreshed when they change. An empty table never means "screen nothing": the shipped
defaults apply.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

RULE_CHECK_SECONDS = 2.0  # how stale the in-process rule cache may get across processes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    category: str
    level: str
    kind: str  # phrase | pattern | exception
    text: str
    note: str = ""
    id: int | None = None
    overrulable: bool = False  # the screening model may overrule it (screening.RULE_OVERRULE_BELOW)

    def compile(self) -> re.Pattern:
        if self.kind == "phrase":
            words = [re.escape(w) for w in normalise(self.text).split()]
            return re.compile(r"\b" + r"\s+".join(words) + r"\b")
        return re.compile(self.text)


class RuleSet:
    def __init__(self, rules: list[Rule], revision: object = None):
        self.revision = revision
        self.exceptions: list[tuple[Rule, re.Pattern]] = []
        self.risks: list[tuple[Rule, re.Pattern]] = []
        for rule in rules:
            try:
                compiled = rule.compile()
            except re.error as exc:  # the admin validates; never let one bad row stop the screen
                logger.error("Safety rule %s does not compile: %s", rule.id, exc)
                continue
            (self.exceptions if rule.kind == "exception" else self.risks).append((rule, compiled))

    def mask(self, text: str) -> str:
        for _rule, regex in self.exceptions:
            text = regex.sub(" , ", text)
        return text

    def matches(self, text: str) -> list[Rule]:
        return [rule for rule, regex in self.risks if regex.search(text)]


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"\s+", " ", text).strip()


def default_rules() -> list[Rule]:
    from conversations.safety.defaults import RULES

    return [Rule(c, lvl, kind, text, note, overrulable=kind != "exception") for c, lvl, kind, text, note in RULES]


_cache_lock = threading.Lock()


_ruleset: RuleSet | None = None


_checked_at = 0.0


def invalidate_rules() -> None:
    """Called when a rule changes in this process; other processes notice within seconds."""
    global _checked_at
    _checked_at = 0.0


def _database_rules() -> tuple[object, list[Rule] | None]:
    from django.db.models import Count, Max

    from conversations.safety.models import ScreeningRule

    active = ScreeningRule.objects.filter(active=True)
    stamp = active.aggregate(n=Count("id"), changed=Max("updated_at"), last=Max("id"))
    revision = (stamp["n"], stamp["changed"], stamp["last"])
    if _ruleset is not None and _ruleset.revision == revision:
        return revision, None
    rows = active.order_by("id").values_list("category", "level", "kind", "text", "note", "id", "overrulable")
    return revision, [Rule(*row) for row in rows]


def current_rules() -> RuleSet:
    """The active rules, from an in-process cache that follows the database."""
    global _ruleset, _checked_at
    now = time.monotonic()
    if _ruleset is not None and now - _checked_at < RULE_CHECK_SECONDS:
        return _ruleset
    with _cache_lock:
        try:
            revision, rows = _database_rules()
        except Exception as exc:  # async context, missing table, database down: keep screening
            logger.debug("Safety rules not refreshed from the database: %s", exc)
            if _ruleset is None:
                _ruleset = RuleSet(default_rules(), revision="defaults")
            _checked_at = now
            return _ruleset
        if rows is not None:
            # An empty table never means "screen nothing": fall back to the shipped rules.
            _ruleset = RuleSet(rows if any(r.kind != "exception" for r in rows) else default_rules(), revision)
        _checked_at = now
        return _ruleset
