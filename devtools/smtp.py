"""A local SMTP sink for tests: just enough SMTP for Django's backend; records each message."""

from __future__ import annotations

import socketserver
import threading
from contextlib import contextmanager


class SMTPHandler(socketserver.StreamRequestHandler):
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


@contextmanager
def smtp_sink():
    """A server on a free loopback port; ``.received`` lists (recipients, body); ``.server_address``."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
