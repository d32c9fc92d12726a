"""Liveness and readiness probes, and the worker heartbeat behind readiness.

The heartbeat works the same with the ORM and the Redis broker: a django-q2 worker
writes a row when it spawns, and a schedule (created by a migration) makes the cluster
run ``heartbeat_task`` every minute, proving that queued work is picked up.
"""

import logging

from django.conf import settings
from django.db import connection, transaction
from django.http import JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_SCHEDULE_NAME = "Worker heartbeat"
HEARTBEAT_FUNC = "therapist_ai.health.heartbeat_task"


@transaction.atomic
def heartbeat_record(*, source: str) -> None:
    """Record that this process's cluster is alive (the training cluster has its own row)."""
    from django_q.conf import Conf

    from therapist_ai.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        cluster=Conf.CLUSTER_NAME, defaults={"beat_at": timezone.now(), "source": source}
    )


def heartbeat_schedule_ensure() -> None:
    """Create the every-minute heartbeat schedule if it is missing (migration 0002 does too)."""
    from django_q.models import Schedule

    Schedule.objects.get_or_create(
        name=HEARTBEAT_SCHEDULE_NAME,
        defaults={"func": HEARTBEAT_FUNC, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1,
                  "next_run": timezone.now()},
    )


def heartbeat_task() -> None:
    heartbeat_record(source="schedule")


def heartbeat_on_worker_spawn(sender, proc_name=None, **kwargs) -> None:
    try:
        heartbeat_record(source="spawn")
    except Exception:  # never keep a worker from starting over a probe
        logger.exception("Could not record the worker heartbeat")


def healthz(request):
    """The process is up and serving requests (no dependencies checked)."""
    return JsonResponse({"status": "ok"})


def _database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


def _worker_check() -> dict:
    from therapist_ai.models import WorkerHeartbeat

    max_age = settings.WORKER_HEARTBEAT_MAX_AGE
    try:
        # The chat worker (default cluster) is what patients depend on.
        last = (
            WorkerHeartbeat.objects.filter(cluster=settings.Q_CLUSTER["name"])
            .values_list("beat_at", flat=True)
            .first()
        )
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__, "max_age_s": max_age}
    if last is None:
        return {"ok": False, "error": "no heartbeat yet", "max_age_s": max_age}
    age = (timezone.now() - last).total_seconds()
    return {"ok": age <= max_age, "age_s": round(age, 1), "max_age_s": max_age}


def readyz(request):
    """Ready for traffic: the database answers and a worker beat recently. 503 otherwise."""
    checks = {"database": _database_check()}
    checks["worker"] = _worker_check() if checks["database"]["ok"] else {"ok": False, "error": "database down"}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
