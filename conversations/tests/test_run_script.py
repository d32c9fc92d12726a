"""`scripts/run.sh`: web + worker + training worker under honcho (Procfile.dev), plus the
development responder only with DEBUG=1 and no key.

Runs the real script against the test database; Ctrl-C is a SIGINT to its process group,
as a terminal sends it. run.sh execs honcho, which starts each Procfile.dev process in a
process group of its own (its pid is the group id) and logs ``NAME started (pid=N)``.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from devtools.servers import database_url, free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class RunScript:
    def __init__(self, tmp_path, **env):
        self.port, self.responder_port = free_port(), free_port()
        self.log = tmp_path / "run.log"
        environment = {k: v for k, v in os.environ.items() if k not in ("GROQ_API_KEY", "GROQ_BASE_URL")}
        environment.update(PORT=str(self.port), DEV_RESPONDER_PORT=str(self.responder_port),
                           DATABASE_URL=database_url(), Q_WORKERS="1", DEV_RESPONDER_TPS="0",
                           # a named base model skips building the bootstrap one (a minute of CPU)
                           BASE_MODEL=str(tmp_path / "base-model-not-needed-here"), **env)
        self.process = subprocess.Popen(
            ["scripts/run.sh"], cwd=ROOT, env=environment, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_until_serving(self, *, responder: bool = False) -> None:
        deadline = time.monotonic() + 60
        while not ("run.sh: Therapist AI on" in self.output and listening(self.port)
                   and (not responder or listening(self.responder_port))):
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.2)

    def wait_for_output(self, pattern: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not re.search(pattern, self.output):
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.2)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def child_groups(self) -> list[int]:
        """honcho's own process group (run.sh's: it execs honcho) and each process's."""
        return [self.process.pid] + [int(pid) for pid in re.findall(r"[\w.-]+ started \(pid=(\d+)\)", self.output)]

    def command_pid(self, process: str) -> int:
        """The pid of the command itself (scripts/procgroup.sh logs it), e.g. the qcluster parent."""
        return int(re.search(rf"{re.escape(process)}\.1 +\| procgroup: started pid (\d+)", self.output).group(1))

    def group_alive(self) -> bool:
        """Whether run.sh, any child, or anything a child spawned is still running."""
        for group in self.child_groups():
            try:
                os.killpg(group, 0)
                return True
            except ProcessLookupError:
                pass
        return False

    def wait_for_group_exit(self, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def kill(self) -> None:
        for group in self.child_groups():
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)


@pytest.fixture
def run_script(tmp_path):
    started = []

    def start(**env):
        started.append(RunScript(tmp_path, **env))
        return started[-1]

    yield start
    for script in started:
        script.kill()


def test_debug_without_key_starts_the_dev_responder_and_ctrl_c_stops_everything(run_script):
    run = run_script(DEBUG="1")
    run.wait_until_serving(responder=True)

    assert "replies come from the development responder" in run.output
    assert len(run.child_groups()) == 1 + 4  # honcho; web, worker, training, dev-responder
    page = run.get("/")
    assert page.status_code == 200 and "development responder" in page.text
    answer = httpx.post(f"http://127.0.0.1:{run.responder_port}/openai/v1/chat/completions", timeout=10,
                        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.json()["choices"][0]["message"]["content"]

    os.killpg(run.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: run.sh's group only

    assert run.process.wait(20) == 130  # honcho: interrupted
    run.wait_for_group_exit()
    assert not run.group_alive(), "a child outlived run.sh"
    assert "SIGINT received" in run.output
    assert not listening(run.port) and not listening(run.responder_port)


def test_production_never_starts_the_dev_responder(run_script):
    run = run_script(DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0")
    run.wait_until_serving()

    assert "GROQ_API_KEY is not set" in run.output
    assert "development responder" not in run.output
    assert not listening(run.responder_port)
    assert "development responder" not in run.get("/").text

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(20) == 143  # honcho: terminated
    run.wait_for_group_exit()
    assert not run.group_alive()
    assert not listening(run.port)


def test_when_the_worker_dies_the_web_server_is_stopped_and_the_script_fails(run_script):
    run = run_script(DEBUG="1")
    run.wait_until_serving(responder=True)
    worker_pid = run.command_pid("worker")  # the qcluster parent, not its wrapper
    # Once the cluster has forked its sentinel, workers and monitor: they must not outlive it.
    run.wait_for_output(r"worker\.1 +\| .*Q Cluster [\w-]+ \[therapist_ai\] running")

    os.kill(worker_pid, signal.SIGKILL)

    assert run.process.wait(20) == 137  # the worker's status: killed (128 + 9)
    run.wait_for_group_exit()
    assert "worker.1 stopped (rc=137)" in run.output and "sending SIGTERM to web.1" in run.output
    assert f"procgroup: pid {worker_pid} exited with status 137; stopping" in run.output
    # the killed cluster's own children (sentinel, workers, monitor) are stopped too
    assert not run.group_alive(), "a process outlived run.sh"
    assert not listening(run.port) and not listening(run.responder_port)
