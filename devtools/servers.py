"""Start the real web server and worker as subprocesses on the test database.

Used by the API concurrency tests, the health tests and the benchmarks: the processes
run the production entry points (uvicorn/gunicorn, ``manage.py qcluster``) with the same
settings module, pointed at the database the calling test (or bench) uses.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict | None = None) -> str:
    """A DATABASE_URL for the database Django is connected to right now (the test DB)."""
    if settings_dict is None:
        from django.db import connection

        settings_dict = connection.settings_dict
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or "postgres"
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"unsupported database engine {engine}")


def process_env(**overrides: str) -> dict[str, str]:
    """This process's environment (DATA_DIR, DEBUG, keys...) with the test database and overrides."""
    from django.db import connection

    env = dict(os.environ)
    env["DATABASE_URL"] = database_url(connection.settings_dict)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def wait_http(url: str, *, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {read_log(proc)[-3000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def read_log(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log_path", None)
    return Path(log).read_text(errors="replace") if log else ""


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    proc.log_file = log
    return proc


def stop(proc: subprocess.Popen, *, timeout: float = 15.0) -> None:
    """SIGTERM to the leader (gunicorn/qcluster stop their own children), then clean up the group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything the leader left behind
    except ProcessLookupError:
        pass
    proc.log_file.close()


def web_command(kind: str, port: int, *, workers: int = 1) -> list[str]:
    """``asgi``: the production config (gunicorn + uvicorn workers, as in the Procfile);
    ``uvicorn``: one uvicorn process; ``wsgi``: plain sync gunicorn."""
    bind = f"127.0.0.1:{port}"
    if kind == "asgi":
        return [sys.executable, "-m", "gunicorn", "therapist_ai.asgi:application", "-c", "gunicorn.conf.py",
                "-b", bind, "-w", str(workers)]
    if kind == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "therapist_ai.asgi:application", "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning"]
    if kind == "wsgi":
        return [sys.executable, "-m", "gunicorn", "therapist_ai.wsgi:application", "-b", bind,
                "-w", str(workers), "--worker-class", "sync", "--log-level", "warning"]
    raise ValueError(kind)


@contextmanager
def web_server(kind: str, env: dict[str, str], log_dir: Path, *, workers: int = 1, extra: list[str] = ()):
    port = free_port()
    proc = _spawn([*web_command(kind, port, workers=workers), *extra], env, Path(log_dir) / f"web-{kind}-{port}.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc=proc)
        proc.base_url = base
        yield proc
    finally:
        stop(proc)


class QCluster:
    """``manage.py qcluster`` (the real django-q2 cluster) as a separate process group.

    ``cluster``: ``Q_CLUSTER_NAME`` (``"training"`` for the training cluster; None: the default).
    """

    def __init__(self, env: dict, log_path: Path, cluster: str | None = None):
        self.env = {**env, **({"Q_CLUSTER_NAME": cluster} if cluster else {})}
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> QCluster:
        self.proc = _spawn([sys.executable, "manage.py", "qcluster"], self.env, self.log_path)
        return self

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self, sig=signal.SIGKILL) -> None:
        """Signal the whole group (the cluster forks a sentinel, workers and a monitor)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        stop(self.proc, timeout=30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def patients_with_tokens(count: int, *, prefix: str = "load") -> list[tuple]:
    """``count`` patients (via the real sign-up service), each with a conversation and an API token."""
    from rest_framework.authtoken.models import Token

    from conversations.accounts.services import patient_register
    from conversations.services.chat import conversation_create

    made = []
    for i in range(count):
        user = patient_register(username=f"{prefix}{i}", password="Calm-harbour-2718", email=f"{prefix}{i}@example.com",
                                accept_terms=True, training_consent=False)
        made.append((user, conversation_create(patient=user), Token.objects.create(user=user).key))
    return made


@contextmanager
def inference_server_thread(*, base_model: Path, storage_dir: Path, **options):
    """The local inference server (``training.inference``) under uvicorn in a thread of this
    process, on a free loopback port; yields its OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
    import threading

    import uvicorn

    from training.inference import ServerConfig, create_app

    config = ServerConfig(port=free_port(), storage_dir=Path(storage_dir), base_model=Path(base_model),
                          **{"max_tokens": 48, "timeout": 30, "dtype": "float32", "batch_wait": 0.01, **options})
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=config.port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="inference-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the inference server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
