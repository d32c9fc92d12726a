"""Shared fixtures for the whole suite.

The test environment (DEBUG, a temporary DATA_DIR, the fake Groq key) is set by the
``therapist_ai.testing_env`` plugin (pyproject ``addopts``), imported again below: pytest-django
reads settings before this file runs.
"""

# --- Shared fixtures (owner: chat & accounts) ---------------------------------------------
# Users come from the real services; log them in with ``client.force_login(user)``
# (django-axes makes ``client.login`` require a request). Every fixture user's password
# is ``TEST_PASSWORD``.
import pytest  # noqa: E402

import therapist_ai.testing_env  # noqa: F401,E402  (the test environment; normally loaded first by -p)
from devtools.factories import TEST_PASSWORD, make_patient, make_staff_member  # noqa: E402,F401


@pytest.fixture(scope="session")
def fake_groq_server():
    """One fake Groq upstream per test process (a real HTTP server on a free loopback port)."""
    from devtools.fake_groq import FakeGroq

    with FakeGroq() as server:
        yield server


@pytest.fixture
def fake_groq(fake_groq_server, settings):
    """The fake upstream, reset to defaults, with ``settings.GROQ_BASE_URL`` pointing at it.

    ``fake_groq.configure(fault="429" | "500" | "hang" | "drop" | "401", first_token_delay=...,
    tokens_per_second=..., reply="fixed text")``; ``fake_groq.chat_requests`` lists what it got.
    """
    from conversations.providers.groq import reset_clients

    fake_groq_server.reset()
    settings.GROQ_BASE_URL = fake_groq_server.base_url
    settings.GROQ_API_KEY = "test-key"
    reset_clients()
    yield fake_groq_server
    fake_groq_server.reset()
    reset_clients()


@pytest.fixture
def patient(db):
    """A patient (group Patients, profile with training consent given)."""
    return make_patient("patient_ann", consent=True)


@pytest.fixture
def other_patient(db):
    """A second patient (no training consent)."""
    return make_patient("patient_bob", consent=False)


@pytest.fixture
def patient_client(client, patient):
    client.force_login(patient)
    return client


@pytest.fixture
def clinician(db):
    """A clinician (group Clinicians, is_staff)."""
    return make_staff_member("clinician_cora", "Clinicians")


@pytest.fixture
def staff_user(db):
    """A staff member (group Staff, is_staff)."""
    return make_staff_member("staff_sam", "Staff")


@pytest.fixture
def asgi_live_server(transactional_db):
    """The project's ASGI app under uvicorn in a thread, on a free port, against the test database.

    pytest-django's ``live_server`` is WSGI: it would buffer streamed (SSE) replies. Static
    files are served from the finders, as ``live_server`` does. ``.url`` is the base URL.
    """
    import socket
    import threading
    import time
    from types import SimpleNamespace

    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from therapist_ai.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(ASGIStaticFilesHandler(application), log_level="warning",
                                           lifespan="off", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="asgi-live-server",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port)
    server.should_exit = True
    thread.join(10)
    sock.close()
