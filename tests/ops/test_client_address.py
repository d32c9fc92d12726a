"""The client address that the login lockout (django-axes) and the token throttle (DRF) count,
through the real servers: gunicorn with gunicorn.conf.py (production) and Procfile.dev's web
line (uvicorn, `make run`), each a subprocess on the test database.

A forwarded header (X-Forwarded-For) is believed only when the connecting peer is listed in
TRUSTED_PROXIES, and then only the address the trusted proxy appended. Here every request
comes from 127.0.0.1: with no trusted proxies, the header is the client's own invention and
must change nothing; with TRUSTED_PROXIES=127.0.0.1 the test plays the proxy.
"""

from __future__ import annotations

import re
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from axes.models import AccessAttempt

from conftest import TEST_PASSWORD
from devtools.servers import _spawn, free_port, process_env, stop, wait_http, web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
ANON_RATE = 60  # settings: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"] = "60/min"


@contextmanager
def _procfile_dev_web(env: dict[str, str], log_dir: Path):
    """Procfile.dev's `web` process, started by honcho as `make run` starts it."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    command = ["honcho", "start", "-e", "/dev/null", "-f", "Procfile.dev", "-p", str(port), "web"]
    proc = _spawn(command, env, Path(log_dir) / f"procfile-dev-web-{port}.log")
    proc.base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(proc.base_url + "/healthz", proc=proc)
        yield proc
    finally:
        stop(proc)


@pytest.fixture(params=["gunicorn.conf.py", "Procfile.dev"])
def serve(request, tmp_path):
    """``serve(trusted_proxies)`` -> the base URL of a server started with that TRUSTED_PROXIES."""
    with ExitStack() as stack:
        def start(trusted_proxies: str) -> str:
            env = process_env(TRUSTED_PROXIES=trusted_proxies, WEB_ACCESS_LOG="0")
            if request.param == "gunicorn.conf.py":
                server = stack.enter_context(web_server("asgi", env, tmp_path))
            else:
                server = stack.enter_context(_procfile_dev_web(env, tmp_path))
            return server.base_url

        yield start


def _log_in(base: str, username: str, password: str, forwarded_for: list[str]) -> list[httpx.Response]:
    """One attempt on the login page per X-Forwarded-For value (a session with its CSRF token)."""
    with httpx.Client(base_url=base, timeout=10) as browser:
        form = browser.get(LOGIN)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        return [browser.post(LOGIN, headers={"X-Forwarded-For": address},
                             data={"csrfmiddlewaretoken": token, "username": username, "password": password})
                for address in forwarded_for]


def _token_requests(base: str, user, forwarded_for: list[str]) -> list[httpx.Response]:
    credentials = {"username": user.username, "password": TEST_PASSWORD}
    with httpx.Client(base_url=base, timeout=10) as client:
        return [client.post(TOKEN, json=credentials, headers={"X-Forwarded-For": address}) for address in forwarded_for]


def _locked_out(response: httpx.Response) -> bool:
    return response.status_code == 429 and "Too many failed log-in attempts" in response.text


def _counted_addresses() -> set[str]:
    return set(AccessAttempt.objects.values_list("ip_address", flat=True))


def test_without_trusted_proxies_a_forged_forwarded_address_neither_escapes_the_lockout_nor_the_throttle(
    serve, patient, other_patient
):
    base = serve("")

    # Six wrong passwords for one username, each claiming to come from somewhere else.
    forged = [f"203.0.113.{n}" for n in range(1, 7)]
    attempts = _log_in(base, patient.username, "wrong-password", forged)
    assert [r.status_code for r in attempts[:4]] == [200] * 4
    assert _locked_out(attempts[5]), attempts[5].text[:500]
    # Locked even with the right password, whatever address it claims.
    assert _locked_out(_log_in(base, patient.username, TEST_PASSWORD, ["192.0.2.99"])[0])
    assert _counted_addresses() == {"127.0.0.1"}  # the peer, never a forged header

    # The token endpoint: ANON_RATE requests a minute per client address, forged ones included.
    replies = _token_requests(base, other_patient, [f"198.51.100.{n}" for n in range(ANON_RATE + 1)])
    assert [r.status_code for r in replies[:ANON_RATE]] == [200] * ANON_RATE
    assert replies[ANON_RATE].status_code == 429
    assert "throttled" in replies[ANON_RATE].json()["detail"].lower()


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(serve, patient, other_patient):
    base = serve("127.0.0.1")  # the test is the proxy: it appends the client's address

    # Client A forges left-most entries; the proxy's own, right-most entry is what counts.
    client_a = [f"10.9.9.{n}, 203.0.113.7" for n in range(1, 7)]
    attempts = _log_in(base, patient.username, "wrong-password", client_a)
    assert _locked_out(attempts[5]), attempts[5].text[:500]
    # Client B, same username, behind the same proxy: not locked out by A's failures.
    other = _log_in(base, patient.username, "wrong-password", ["198.51.100.9"])[0]
    assert other.status_code == 200 and "Please enter a correct username and password" in other.text
    assert _counted_addresses() == {"203.0.113.7", "198.51.100.9"}

    # The token throttle: A uses up its allowance; B still has its own.
    replies = _token_requests(base, other_patient, ["203.0.113.7"] * (ANON_RATE + 1) + ["198.51.100.9"])
    assert [r.status_code for r in replies[:ANON_RATE]] == [200] * ANON_RATE
    assert replies[ANON_RATE].status_code == 429
    assert replies[ANON_RATE + 1].status_code == 200
