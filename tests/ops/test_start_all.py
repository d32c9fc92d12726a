"""`scripts/start_all.sh`: the container's one supervisor (honcho over the Procfile's web and
worker, plus training with START_TRAINING_WORKER=1), run for real on the test database.

What a platform relies on: it serves, `docker stop` (SIGTERM) stops every process, and when
one process dies (the worker's cluster parent SIGKILLed, as the OOM killer would) everything
else stops too, the cluster's forked children included, and the container exits non-zero.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools.servers import ROOT, free_port, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Container:
    """scripts/start_all.sh as a container runs it: its own session, output to a log."""

    def __init__(self, tmp_path: Path, **overrides: str):
        self.port = free_port()
        self.log = tmp_path / "start_all.log"
        env = process_env(PORT=self.port, WEB_CONCURRENCY=1, Q_WORKERS=1, WEB_ACCESS_LOG=0, **overrides)
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # honcho, gunicorn, python
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(["scripts/start_all.sh"], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, ready, what: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            assert self.process.poll() is None, self.output[-4000:]
            assert time.monotonic() < deadline, f"{what}: {self.output[-4000:]}"
            time.sleep(0.2)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def serving(self) -> bool:
        try:
            return self.get("/readyz").status_code == 200  # web up, and the worker's heartbeat
        except httpx.TransportError:
            return False

    def groups(self) -> list[int]:
        """honcho's process group and each Procfile process's (honcho logs the leader's pid)."""
        return [self.process.pid] + [int(pid) for pid in re.findall(r"\S+ started \(pid=(\d+)\)", self.output)]

    def alive(self) -> bool:
        for group in self.groups():
            try:
                os.killpg(group, 0)
                return True
            except ProcessLookupError:
                pass
        return False

    def wait_gone(self, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def kill(self) -> None:
        for group in self.groups():
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)


@pytest.fixture
def container(tmp_path):
    started = []

    def start(**overrides):
        started.append(Container(tmp_path, **overrides))
        return started[-1]

    yield start
    for each in started:
        each.kill()


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        return True
    except httpx.TransportError:
        return False


def test_docker_stop_stops_every_process_and_frees_the_port(container):
    box = container()
    box.wait_for(box.serving, "web and worker ready")
    assert "training.1" not in box.output  # only with START_TRAINING_WORKER=1
    assert len(box.groups()) == 1 + 2

    box.process.send_signal(signal.SIGTERM)  # what `docker stop` sends to PID 1

    assert box.process.wait(30) == 143
    box.wait_gone()
    assert not box.alive(), "a process outlived the container's supervisor"
    assert not _listening(box.port)


def test_when_the_worker_dies_everything_stops_and_the_container_exits_non_zero(container):
    box = container(START_TRAINING_WORKER="1")
    box.wait_for(box.serving, "web and worker ready")
    box.wait_for(lambda: re.search(r"worker\.1 +\| .*Q Cluster [\w-]+ \[therapist_ai\] running", box.output),
                 "the worker's cluster forked its processes")
    assert len(box.groups()) == 1 + 3
    worker = int(re.search(r"worker\.1 +\| procgroup: started pid (\d+)", box.output).group(1))

    os.kill(worker, signal.SIGKILL)

    assert box.process.wait(30) == 137
    box.wait_gone()
    assert not box.alive(), "a process outlived the container's supervisor"
    assert not _listening(box.port)
    assert "worker.1 stopped (rc=137)" in box.output
    assert re.search(rf"procgroup: pid {worker} exited with status 137; stopping [1-9]", box.output)


def test_a_misspelt_start_training_worker_stops_the_container_with_a_message(container):
    box = container(START_TRAINING_WORKER="ture")
    assert box.process.wait(10) == 2
    assert "START_TRAINING_WORKER must be a boolean" in box.output
