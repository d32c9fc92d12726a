"""Queueing background tasks without losing them when the broker is down.

``task_enqueue`` hands a task to django-q2; if the broker refuses (Redis unreachable), the task
is written to the ``TaskOutbox`` table instead and ``outbox_flush`` (scheduled every minute;
the scheduler runs again as soon as the broker is back) queues it then. Tasks take ids, never
patient text, so the outbox holds none either.
"""

from __future__ import annotations

import logging

from therapist_ai.models import TaskOutbox

logger = logging.getLogger(__name__)


def task_enqueue(func: str, *args, cluster: str | None = None, task_name: str | None = None) -> bool:
    """Queue ``func(*args)``; returns False when it went to the outbox instead."""
    options = {k: v for k, v in {"cluster": cluster, "task_name": task_name}.items() if v}
    try:
        _async_task(func, args, options)
        return True
    except Exception as exc:  # the broker is down: keep the task
        TaskOutbox.objects.create(func=func, args=list(args), options=options, last_error=_describe(exc))
        logger.warning("Broker unavailable (%s); task %s kept in the outbox", _describe(exc), func)
        return False


def outbox_flush(*, limit: int = 200) -> int:
    """Queue what waited in the outbox, oldest first; stops at the first refusal. Returns how many."""
    sent = 0
    for row in TaskOutbox.objects.all()[:limit]:
        try:
            _async_task(row.func, row.args, row.options)
        except Exception as exc:
            TaskOutbox.objects.filter(pk=row.pk).update(attempts=row.attempts + 1, last_error=_describe(exc))
            break
        row.delete()
        sent += 1
    if sent:
        logger.info("Outbox: %s waiting tasks queued", sent)
    return sent


def _async_task(func: str, args, options: dict) -> None:
    from django_q.tasks import async_task

    async_task(func, *args, **options)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
