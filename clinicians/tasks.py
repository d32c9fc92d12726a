"""django-q2 entry points: one service call each."""

from clinicians import services


def redactions_suggest_pending() -> None:
    services.redactions_suggest_pending()
