"""Serving across processes and in the browser: a promotion made in one process is followed by the
very next reply of another running web server (no restart); a patient in Chromium sees the
reply stream from the promoted local version."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from devtools.factories import TEST_PASSWORD
from devtools.servers import patients_with_tokens, process_env, web_server
from training.serving import services as serving
from training.tests.conftest import REPLIES, SYSTEM_PROMPT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # the first test also trains the adapters


def _post(base: str, token: str, conversation_id: int, text: str) -> dict:
    response = httpx.post(f"{base}/api/v1/conversations/{conversation_id}/messages/", json={"content": text},
                          headers={"Authorization": f"Token {token}"}, timeout=60)
    assert response.status_code in (200, 201), response.text
    return response.json()["reply"]


def test_a_promotion_or_rollback_reaches_the_next_reply_of_another_running_web_server(
        served, transactional_db, version_a, version_b, clinician, staff_user, tmp_path):
    for version in (version_a, version_b):
        serving.model_version_sign_off(version=version, clinician=clinician)
    [(_patient, conversation, token)] = patients_with_tokens(1, prefix="live")
    env = process_env(INFERENCE_URL=served.INFERENCE_URL, INFERENCE_TEMPERATURE="0", INFERENCE_MAX_TOKENS="24",
                      GROQ_BASE_URL=served.GROQ_BASE_URL, GROQ_API_KEY="test-key", CHAT_HISTORY_MESSAGES="1",
                      THERAPIST_SYSTEM_PROMPT=SYSTEM_PROMPT, BASE_MODEL=served.BASE_MODEL,
                      MODEL_STORAGE_DIR=str(served.MODEL_STORAGE_DIR))
    with web_server("uvicorn", env, tmp_path) as web:
        assert _post(web.base_url, token, conversation.pk, "hello")["provider"] == "groq"

        serving.model_version_promote(version=version_a, actor=staff_user)  # in this process
        reply = _post(web.base_url, token, conversation.pk, "I feel lonely.")
        assert (reply["provider"], reply["model_name"]) == ("local", version_a.name)
        assert reply["content"].startswith(REPLIES["a"])

        serving.model_version_promote(version=version_b, actor=staff_user)
        assert _post(web.base_url, token, conversation.pk, "I can't sleep.")["model_name"] == version_b.name

        serving.serving_rollback(actor=staff_user, reason="back to a")
        reply = _post(web.base_url, token, conversation.pk, "Work is too much.")
        assert (reply["provider"], reply["model_name"]) == ("local", version_a.name)


@pytest.mark.browser
def test_a_patient_sees_the_reply_stream_from_the_promoted_local_version(
        served, asgi_live_server, version_a, clinician, staff_user):
    from playwright.sync_api import sync_playwright

    from conversations.models import Message
    from conversations.tests.test_browser import CHROMIUM_ARGS
    from devtools.factories import make_patient

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    serving.model_version_sign_off(version=version_a, clinician=clinician)
    serving.model_version_promote(version=version_a, actor=staff_user)
    make_patient("browser_pat")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(asgi_live_server.url + "/accounts/login/")
        page.fill("input[name=username]", "browser_pat")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/conversations/$"))
        page.click("#new-conversation")
        page.wait_for_url(re.compile(r"/conversations/\d+/$"))
        page.fill("textarea[name=content]", "I feel lonely.")
        page.click("#send")
        page.wait_for_selector("article.message.assistant:not(.streaming)")
        shown = page.locator("article.message.assistant").last.locator(".body").inner_text()
        browser.close()
    reply = Message.objects.filter(role="assistant").latest("id")
    assert (reply.provider, reply.model_name) == ("local", version_a.name)
    assert shown.startswith(REPLIES["a"]) and reply.content.startswith(shown.strip()[: len(REPLIES["a"])])
