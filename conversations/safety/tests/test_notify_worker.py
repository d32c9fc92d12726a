"""The crisis e-mail goes out from the real django-q2 worker over real SMTP, not from the request."""

import socketserver
import threading
import time

import pytest

from conversations.safety.models import SafetyFlag
from conversations.services.chat import conversation_create, message_send
from devtools.servers import QCluster, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend: records each message's recipients and body."""

    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        recipients, data = [], None
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip()
            upper = command.upper()
            if data is not None:
                if command == ".":
                    self.server.received.append((recipients, "\n".join(data)))
                    recipients, data = [], None
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(command)
            elif upper.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 test\r\n")
            elif upper.startswith("RCPT TO:"):
                recipients.append(command[8:].strip(" <>"))
                self.wfile.write(b"250 ok\r\n")
            elif upper == "DATA":
                data = []
                self.wfile.write(b"354 go ahead\r\n")
            elif upper == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # MAIL FROM, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_crisis_notification_is_sent_by_the_worker_after_the_reply(patient, clinician, settings, smtp_server,
                                                                   tmp_path):
    settings.GROQ_BASE_URL = "http://127.0.0.1:9/"  # the LLM is down too: irrelevant for a crisis
    conversation = conversation_create(patient=patient)
    started = time.monotonic()
    turn = message_send(conversation=conversation, content="I want to kill myself tonight")
    reply_seconds = time.monotonic() - started
    assert turn.reply.provider == "safety" and reply_seconds < 5
    assert smtp_server.received == []  # queued, not sent by the request

    env = process_env(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                      EMAIL_PORT=str(smtp_server.server_address[1]), CLINICIAN_ALERT_EMAILS="oncall@example.org")
    with QCluster(env, tmp_path / "qcluster.log") as worker:
        deadline = time.monotonic() + 60
        while not smtp_server.received and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
    assert smtp_server.received, (tmp_path / "qcluster.log").read_text()[-3000:]
    recipients, message = smtp_server.received[0]
    assert sorted(recipients) == ["clinician_cora@example.com", "oncall@example.org"]
    flag = SafetyFlag.objects.get(conversation=conversation)
    assert f"conversation {conversation.pk}" in message and f"/admin/safety/safetyflag/{flag.pk}/" in message
    assert "kill myself" not in message
