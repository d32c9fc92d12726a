"""Panels on the admin index page, registered by the apps that own them.

The project's admin index template is in this (lowest) layer; the panels come from higher
apps (the training app: the progress toward the next run, the serving banner), which register
them in ``AppConfig.ready()``. A panel is a template and a function of the user that returns
its context, or ``None`` when that user should not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    template: str
    context: Callable[[object], dict | None]


_panels: dict[str, Panel] = {}


def admin_index_panel_register(*, name: str, template: str, context: Callable[[object], dict | None]) -> None:
    """Add (or replace) the panel called ``name``."""
    _panels[name] = Panel(template, context)


def admin_index_panels(user) -> list[tuple[str, dict]]:
    """(template, context) of each panel this user may see, in registration order."""
    shown = []
    for panel in _panels.values():
        context = panel.context(user)
        if context is not None:
            shown.append((panel.template, context))
    return shown
