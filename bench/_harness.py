"""Shared set-up for the benchmarks: a migrated database, the production web server as a
subprocess, the fake Groq upstream as a subprocess, and patients with API tokens/sessions.

Everything runs on loopback; nothing here talks to the real Groq API.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.servers import free_port, stop, wait_http, web_server  # noqa: E402

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",  # loopback HTTP; TLS is the proxy's job in production
    "GROQ_API_KEY": "bench-key",
    "MESSAGE_THROTTLE_RATE": "1000000/min",
    "WEB_ACCESS_LOG": "0",
    "LOG_LEVEL": "WARNING",
}


def prepare(database_url: str | None = None) -> Path:
    """A fresh DATA_DIR (and database), migrated; Django set up in this process."""
    data_dir = Path(tempfile.mkdtemp(prefix="therapist-bench-"))
    os.environ.update(PRODUCTION_ENV)
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["STATIC_ROOT"] = str(data_dir / "static")
    os.environ["DJANGO_SETTINGS_MODULE"] = "therapist_ai.settings"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import django

    django.setup()
    return data_dir


def server_env(fake_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GROQ_BASE_URL"] = fake_url
    env.update(extra)
    return env


@contextmanager
def fake_upstream(*, ttft: float = 0.0, tps: float = 0.0, guard_delay: float | None = None):
    """The fake Groq upstream in its own process (so it does not share our interpreter);
    ``guard_delay``: seconds its guard model takes to answer."""
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / f"fake-groq-{port}.log", "wb")  # noqa: SIM115
    extra = ["--guard-delay", str(guard_delay)] if guard_delay is not None else []
    proc = subprocess.Popen([sys.executable, "-m", "devtools.fake_groq", "--port", str(port), "--ttft", str(ttft),
                             "--tps", str(tps), *extra], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=dict(os.environ))
    proc.log_file = log
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc=None)
        yield url
    finally:
        stop(proc)


def patients(count: int, *, prefix: str) -> list[dict]:
    """Patients with a conversation, an API token and a logged-in session (+ CSRF pair)."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from conversations.accounts.services import patient_register
    from conversations.services.chat import conversation_create

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_password("warm-up")
    made = []
    for i in range(count):
        user = patient_register(username=f"{prefix}{i}", password="Calm-harbour-2718",
                                email=f"{prefix}{i}@example.com", accept_terms=True, training_consent=False)
        client = Client()
        client.force_login(user)
        csrf = secrets.token_hex(16)  # an unmasked 32-character secret, sent as cookie and header
        made.append({
            "user": user,
            "conversation": conversation_create(patient=user).pk,
            "token": Token.objects.create(user=user).key,
            "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
            "csrf": csrf,
        })
    return made


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (a gunicorn master and its workers)."""
    total = 0.0
    for proc in [str(pid), *_children(pid)]:
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summary(values_ms: list[float]) -> str:
    return (f"p50 {pct(values_ms, 0.5):7.2f} ms  p99 {pct(values_ms, 0.99):7.2f} ms  "
            f"mean {statistics.fmean(values_ms):7.2f} ms  (n={len(values_ms)})")


__all__ = ["ROOT", "prepare", "server_env", "fake_upstream", "patients", "pct", "summary", "web_server", "cpu_seconds"]
