"""Liveness and readiness probes for the platform's health checks."""

from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    # Filled in by the foundation work: database reachable, worker heartbeat recent.
    return JsonResponse({"status": "ok"})
