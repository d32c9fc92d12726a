"""Settings: production start-up refusals, check --deploy, SQLite WAL/IMMEDIATE, PostgreSQL pool."""

import os
import secrets
import subprocess
import sys

import pytest

from devtools.servers import ROOT


def _production_env(tmp_path, **overrides) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DEBUG", "THERAPIST_TESTING", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL",
                        # set by the browser tests for Playwright's sync API; never in production
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="0", DATA_DIR=str(tmp_path), SECRET_KEY=secrets.token_urlsafe(50), ERASURE_KEYS=secrets.token_urlsafe(40),
               ALLOWED_HOSTS="therapist.example.com", CSRF_TRUSTED_ORIGINS="https://therapist.example.com")
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_reports_nothing_in_a_production_environment(tmp_path):
    done = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "DEBUG")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNINGS" not in done.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = _production_env(tmp_path)
    del env["SECRET_KEY"]
    done = _manage(env, "check")
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in done.stderr


def test_production_refuses_to_start_without_allowed_hosts(tmp_path):
    env = _production_env(tmp_path)
    del env["ALLOWED_HOSTS"]
    done = _manage(env, "check")
    assert done.returncode != 0
    assert "ImproperlyConfigured: ALLOWED_HOSTS is not set" in done.stderr


def _settings_probe(env, expression: str) -> str:
    script = f"import django; django.setup()\nfrom django.conf import settings\nprint({expression})"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**env, "DJANGO_SETTINGS_MODULE": "therapist_ai.settings"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_production_redirects_to_https_behind_the_proxy_header_and_sets_hsts(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "plain = c.get('/api/v1/conversations/', HTTP_HOST='therapist.example.com')\n"
        "print(plain.status_code, plain.get('Location'))\n"
        "probe = c.get('/healthz', HTTP_HOST='therapist.example.com')\n"
        "print(probe.status_code)\n"
        "proxied = c.get('/healthz', HTTP_HOST='therapist.example.com', HTTP_X_FORWARDED_PROTO='https')\n"
        "print(proxied.status_code, proxied['Strict-Transport-Security'], proxied['Content-Security-Policy'])\n"
    )
    env = {**_production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "therapist_ai.settings"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    plain, probe, proxied = done.stdout.splitlines()
    assert plain == "301 https://therapist.example.com/api/v1/conversations/"
    assert probe == "200"  # platform health probes may use plain HTTP inside the network
    assert proxied.startswith("200 max-age=31536000; includeSubDomains; preload")
    assert "script-src 'self'" in proxied and "frame-ancestors 'none'" in proxied
    # Secure session/CSRF cookies are among what check --deploy verifies (security.W012, W016).


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATA_DIR"] = str(tmp_path)
    script = (
        "import django, threading, time; django.setup()\n"
        "from django.db import connection, transaction\n"
        "cur = connection.cursor()\n"
        "print(cur.execute('PRAGMA journal_mode').fetchone()[0], cur.execute('PRAGMA busy_timeout').fetchone()[0])\n"
        "cur.execute('CREATE TABLE t (n integer)'); connection.close()\n"
        "errors = []\n"
        "def turn():\n"
        "    try:\n"
        "        with transaction.atomic():\n"  # read, then write: the classic lock upgrade
        "            with connection.cursor() as c:\n"
        "                c.execute('SELECT count(*) FROM t'); time.sleep(0.02); c.execute('INSERT INTO t VALUES (1)')\n"
        "    except Exception as exc: errors.append(repr(exc))\n"
        "    finally: connection.close()\n"
        "threads = [threading.Thread(target=turn) for _ in range(20)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(connection.cursor().execute('SELECT count(*) FROM t').fetchone()[0], errors)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**env, "DJANGO_SETTINGS_MODULE": "therapist_ai.settings"})
    assert done.returncode == 0, done.stderr[-2000:]
    pragmas, outcome = done.stdout.splitlines()
    assert pragmas == "wal 30000"
    assert outcome == "20 []"  # every writer waited its turn; no "database is locked"


def test_postgresql_url_uses_the_connection_pool_from_threads_and_async_code():
    script = (
        "import asyncio, threading, django; django.setup()\n"
        "from asgiref.sync import sync_to_async\n"
        "from django.db import connection, connections\n"
        "def pid():\n"
        "    with connection.cursor() as c:\n"
        "        c.execute('SELECT pg_backend_pid()'); value = c.fetchone()[0]\n"
        "    connections.close_all()  # what Django does at the end of every request\n"
        "    return value\n"
        "pids = set()\n"
        "def worker():\n"
        "    for _ in range(10): pids.add(pid())\n"
        "threads = [threading.Thread(target=worker) for _ in range(16)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "async def main():\n"
        "    return await asyncio.gather(*[sync_to_async(pid, thread_sensitive=False)() for _ in range(100)])\n"
        "pids.update(asyncio.run(main()))\n"
        "print(type(connection.pool).__name__, connection.pool.max_size, len(pids))\n"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
           "DJANGO_SETTINGS_MODULE": "therapist_ai.settings", "DB_POOL_MAX_SIZE": "4"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    pool, max_size, backends = done.stdout.split()
    assert pool == "ConnectionPool" and max_size == "4"
    # 260 queries from 16 threads and 100 async tasks reused at most 4 server connections.
    assert 1 <= int(backends) <= 4


@pytest.mark.parametrize("name", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_developer_machine_gets_safe_defaults_without_secrets(tmp_path, name):
    env = _production_env(tmp_path, DEBUG="1")
    del env[name]
    value = _settings_probe(env, f"bool(settings.{name})")
    assert value == "True"


def test_lockout_and_throttle_read_the_client_address_from_remote_addr_only(rf):
    """The server sets REMOTE_ADDR from a trusted proxy's header (TRUSTED_PROXIES); the app
    must not read X-Forwarded-For again (tests/ops/test_client_address.py: the real servers)."""
    from axes.helpers import get_client_ip_address
    from rest_framework.request import Request
    from rest_framework.throttling import AnonRateThrottle

    request = rf.post("/api/v1/auth/token/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7, 10.0.0.9")
    assert get_client_ip_address(request) == "10.0.0.1"
    assert AnonRateThrottle().get_ident(Request(request)) == "10.0.0.1"
