"""The web process starts and serves a Groq reply with the training libraries absent.

A web-only Docker image installs requirements/base.txt alone. This runs the app in a
subprocess where importing any training or test-only library raises ImportError, as it
would in that image, then migrates, loads every URL, serves pages and a chat turn.
"""

import subprocess
import sys

from devtools.servers import ROOT

ABSENT_IN_WEB_IMAGE = ["torch", "transformers", "peft", "trl", "datasets", "accelerate", "sentence_transformers"]

SCRIPT = r"""
import importlib.abc, os, sys
ABSENT = set(sys.argv[1].split(","))
attempts = []

class WebImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ABSENT:
            attempts.append(name)
            raise ImportError(f"{name} is not installed in the web image")
        return None

sys.meta_path.insert(0, WebImage())

from devtools.fake_groq import FakeGroq
fake = FakeGroq(reply="I hear you. What would help right now?").start()
os.environ["GROQ_BASE_URL"] = fake.base_url
os.environ["DJANGO_SETTINGS_MODULE"] = "therapist_ai.settings"
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from therapist_ai.asgi import application  # noqa: F401  the production entry point loads
from django.urls import get_resolver
get_resolver().url_patterns  # imports every app's views and API modules

from django.test import Client
from rest_framework.authtoken.models import Token
from conversations.services.chat import conversation_create
from conversations.accounts.services import patient_register
user = patient_register(username="webonly", password="Calm-harbour-2718", email="w@example.com",
                        accept_terms=True, training_consent=False)
conversation = conversation_create(patient=user)
token = Token.objects.create(user=user).key
client = Client()
turn = client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "hello"},
                   content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
print("turn", turn.status_code, turn.json()["reply"]["content"])
client.force_login(user)
print("pages", client.get("/conversations/").status_code, client.get(f"/conversations/{conversation.pk}/").status_code)
print("loaded", sorted(m for m in sys.modules if m.split(".")[0] in ABSENT))
print("attempts", sorted(set(attempts)))
fake.stop()
"""


def test_web_process_serves_a_groq_reply_without_training_libraries(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "DATA_DIR": str(tmp_path), "GROQ_API_KEY": "test-key",
           "MODEL_STORAGE_DIR": str(tmp_path / "models"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(ABSENT_IN_WEB_IMAGE)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert lines["turn"] == "201 I hear you. What would help right now?"
    assert lines["pages"] == "200 200"
    assert lines["loaded"] == "[]"
    # Nothing even tried to import them (a guarded optional import would show up here).
    assert lines["attempts"] == "[]", lines["attempts"]
