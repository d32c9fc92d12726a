"""413 before parsing, also for chunked bodies (no Content-Length) under real ASGI and WSGI servers."""

import json

import httpx
import pytest

from conversations.models import Message
from devtools.servers import patients_with_tokens, process_env, web_server


def _chunks(payload: bytes, size: int = 1000):
    for start in range(0, len(payload), size):
        yield payload[start:start + size]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["uvicorn", "wsgi"])
def test_chunked_bodies_are_limited_under_real_servers(kind, fake_groq, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    [(_, conversation, token)] = patients_with_tokens(1, prefix=f"chunk{kind}")
    env = process_env(GROQ_BASE_URL=fake_groq.base_url, REQUEST_BODY_MAX_BYTES="4096")
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    with web_server(kind, env, tmp_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            big = json.dumps({"content": "x" * 6000}).encode()
            refused = http.post(url, content=_chunks(big), headers=headers)
            declared = http.post(url, content=big, headers=headers)
            small = json.dumps({"content": "a chunked hello"}).encode()
            accepted = http.post(url, content=_chunks(small, 5), headers=headers)
    assert refused.request.headers.get("transfer-encoding") == "chunked"
    assert refused.status_code == 413
    assert refused.json()["detail"] == "Request body too large: the limit is 4096 bytes."
    assert declared.status_code == 413
    assert declared.json()["detail"].startswith(f"Request body too large: {len(big)} bytes")
    assert accepted.request.headers.get("transfer-encoding") == "chunked"
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["patient_message"]["content"] == "a chunked hello"
    assert list(Message.objects.filter(role="patient").values_list("content", flat=True)) == ["a chunked hello"]
