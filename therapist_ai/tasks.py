"""django-q2 entry points of the project layer."""

from therapist_ai import queueing


def outbox_flush() -> None:
    queueing.outbox_flush()
