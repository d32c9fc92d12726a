"""The inference server's control endpoint (the local server and vLLM share it): load a model
version's adapter before it serves, so a version that fails to load never serves."""

from __future__ import annotations

import httpx
from django.conf import settings


class InferenceUnavailable(Exception):
    """The inference server could not load the version (or could not be reached)."""


def _url(path: str) -> str:
    return settings.INFERENCE_URL.rstrip("/") + path


def _headers() -> dict:
    return {"Authorization": f"Bearer {settings.INFERENCE_API_KEY}"} if settings.INFERENCE_API_KEY else {}


def version_load(*, name: str, path: str) -> None:
    """Ask the server to load (verify and keep) a version; raises ``InferenceUnavailable``."""
    try:
        response = httpx.post(_url("/load_lora_adapter"), json={"lora_name": name, "lora_path": path},
                              headers=_headers(), timeout=httpx.Timeout(120.0, connect=settings.INFERENCE_CONNECT_TIMEOUT))
    except httpx.HTTPError as exc:
        raise InferenceUnavailable(
            f"the inference server at {settings.INFERENCE_URL} could not be reached ({type(exc).__name__}); "
            "is the inference process running?") from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("error", {}).get("message") or response.text
        except ValueError:
            detail = response.text
        raise InferenceUnavailable(f"the inference server refused version {name}: {str(detail)[:300]}")


def server_health() -> dict | None:
    """The server's ``/health`` report, or None when it cannot be reached."""
    root = settings.INFERENCE_URL.rstrip("/").removesuffix("/v1")
    try:
        response = httpx.get(root + "/health", headers=_headers(), timeout=2.0)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
