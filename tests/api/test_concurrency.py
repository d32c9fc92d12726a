"""50 patients posting at once through the production server: every message stored once.

Runs on whichever database the suite uses (.ci/run: SQLite, then PostgreSQL).
"""

import threading

import httpx
import pytest

from conversations.models import Message
from devtools.servers import patients_with_tokens, process_env, read_log, web_server

PATIENTS = 50


def _post_all_at_once(base_url: str, jobs: list[tuple[str, int, str, dict]]) -> list[httpx.Response]:
    """Each job: (token, conversation id, content, extra headers); all released by one barrier."""
    barrier = threading.Barrier(len(jobs))
    responses: list = [None] * len(jobs)

    def post(i: int, token: str, conversation_id: int, content: str, extra: dict) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as http:
            barrier.wait()
            try:
                responses[i] = http.post(f"/api/v1/conversations/{conversation_id}/messages/",
                                         json={"content": content},
                                         headers={"Authorization": f"Token {token}", **extra})
            except httpx.HTTPError as exc:
                responses[i] = exc

    threads = [threading.Thread(target=post, args=(i, *job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return responses


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_patients_posting_at_once_each_get_their_message_stored_exactly_once(fake_groq, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    patients = patients_with_tokens(PATIENTS)
    fake_groq.configure(first_token_delay=0.05)
    env = process_env(GROQ_BASE_URL=fake_groq.base_url, WEB_ACCESS_LOG="0")
    with web_server("asgi", env, tmp_path, workers=2) as server:
        jobs = [(token, conversation.pk, f"message from patient {i}", {"Idempotency-Key": f"turn-{i}"})
                for i, (_, conversation, token) in enumerate(patients)]
        responses = _post_all_at_once(server.base_url, jobs)
        log = read_log(server)
    assert [getattr(r, "status_code", r) for r in responses] == [201] * PATIENTS
    assert "database is locked" not in log
    for i, (_user, conversation, _) in enumerate(patients):
        stored = list(conversation.messages.order_by("id").values_list("role", "content", "status"))
        assert stored[0] == ("patient", f"message from patient {i}", "ok")
        assert [role for role, _, _ in stored] == ["patient", "assistant"]
        assert stored[1][2] == "ok"
    assert Message.objects.filter(role="patient").count() == PATIENTS
    assert len(fake_groq.chat_requests) == PATIENTS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simultaneous_posts_with_the_same_idempotency_key_store_one_message(fake_groq, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    [(_, conversation, token)] = patients_with_tokens(1, prefix="retrier")
    fake_groq.configure(first_token_delay=0.2)
    env = process_env(GROQ_BASE_URL=fake_groq.base_url, WEB_ACCESS_LOG="0")
    with web_server("asgi", env, tmp_path, workers=2) as server:
        jobs = [(token, conversation.pk, "same turn, sent five times", {"Idempotency-Key": "one-key"})] * 5
        responses = _post_all_at_once(server.base_url, jobs)
    codes = sorted(getattr(r, "status_code", r) for r in responses)
    assert codes.count(201) == 1, codes
    # Replays get the first result (200), or 409 while the first is still being answered.
    assert set(codes) <= {200, 201, 409}, codes
    first = {r.json()["patient_message"]["id"] for r in responses}
    assert len(first) == 1
    in_progress = [r for r in responses if r.status_code == 409]
    assert all(r.headers["Retry-After"] == "1" and "still being answered" in r.json()["detail"]
               for r in in_progress)
    assert conversation.messages.filter(role="patient").count() == 1
    assert conversation.messages.filter(role="assistant").count() == 1
    assert len(fake_groq.chat_requests) == 1
