"""Find and remove queued django-q2 tasks (and stored task results) about an erased patient.

Task payloads carry ids only, so "about the patient" means: a positional or keyword
argument whose parameter name says it is a user, conversation or message id, and whose
value is one of theirs. Arguments are bound to the task function's signature, so a
positional ``conversation_id`` is recognised as such; unrelated integers are not.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

USER_KEYS = {"user_id", "patient_id"}
CONVERSATION_KEYS = {"conversation_id"}
MESSAGE_KEYS = {"message_id", "patient_message_id", "reply_id"}


@dataclass
class Subject:
    user_id: int
    conversation_ids: set[int] = field(default_factory=set)
    message_ids: set[int] = field(default_factory=set)


def _named_arguments(func, args, kwargs) -> dict:
    named = dict(kwargs or {})
    try:
        target = import_string(func) if isinstance(func, str) else func
        bound = inspect.signature(target).bind_partial(*(args or ()), **named)
        named.update(bound.arguments)
    except Exception:  # unknown or moved function: keyword arguments still count
        pass
    return named


def _as_ids(value) -> set:
    if isinstance(value, (list, tuple, set, frozenset)):
        return {v for v in value if isinstance(v, int)}
    return {value} if isinstance(value, int) else set()


def is_about(subject: Subject, func, args, kwargs) -> bool:
    for name, value in _named_arguments(func, args, kwargs).items():
        ids = _as_ids(value)
        singular = name[:-1] if name.endswith("_ids") else name
        if singular in USER_KEYS and subject.user_id in ids:
            return True
        if singular in CONVERSATION_KEYS and ids & subject.conversation_ids:
            return True
        if singular in MESSAGE_KEYS and ids & subject.message_ids:
            return True
    return False


def remove_tasks_about(subject: Subject) -> int:
    """Delete queued tasks and stored task results about ``subject``; returns how many."""
    from django_q.models import OrmQ, Task

    removed = 0
    for queued in OrmQ.objects.all().iterator(chunk_size=200):
        task = queued.task
        if is_about(subject, task.get("func"), task.get("args"), task.get("kwargs")):
            queued.delete()
            removed += 1
    for done in Task.objects.only("id", "func", "args", "kwargs").iterator(chunk_size=200):
        if is_about(subject, done.func, done.args, done.kwargs):
            done.delete()
            removed += 1
    return removed + _remove_from_redis(subject)


def _remove_from_redis(subject: Subject) -> int:
    if not getattr(settings, "REDIS_URL", ""):
        return 0
    import redis
    from django_q.signing import SignedPackage

    connection = redis.Redis.from_url(settings.REDIS_URL)
    removed = 0
    for key in _queue_keys(connection):
        for raw in connection.lrange(key, 0, -1):
            try:
                task = SignedPackage.loads(raw.decode() if isinstance(raw, bytes) else raw)
            except Exception:
                continue
            if is_about(subject, task.get("func"), task.get("args"), task.get("kwargs")):
                removed += connection.lrem(key, 0, raw)
    return removed


def _queue_keys(connection) -> Iterable[bytes]:
    return connection.scan_iter(match="django_q:*:q")
