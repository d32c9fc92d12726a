"""Real Chromium (Debian's) driven by Playwright against uvicorn serving the ASGI app."""

import os
import re
import time

import pytest
from django.urls import reverse

from conversations.models import Conversation, PatientProfile
from devtools.fake_groq import reply_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "Gentle-tide-3141"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_up(page, base, username, *, consent):
    page.goto(base + reverse("signup"))
    assert "not a human and not a licensed therapist" in page.inner_text("#what-this-is")
    assert not page.is_checked("input[name=training_consent]")  # unticked by default
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.check("input[name=accept_terms]")
    if consent:
        page.check("input[name=training_consent]")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/conversations/$"))


def assert_help_and_disclosure(page):
    assert page.is_visible("#get-help") and page.inner_text("#get-help") == "Get help now"
    assert "Replies come from an AI" in page.inner_text("#ai-disclosure")


def test_patient_signs_up_chats_with_a_streamed_reply_and_finds_the_history(asgi_live_server, fake_groq, page):
    base = asgi_live_server.url
    fake_groq.configure(first_token_delay=0.2, tokens_per_second=25)
    sign_up(page, base, "stream_sam", consent=True)
    assert PatientProfile.objects.get(user__username="stream_sam").training_consent is True
    assert_help_and_disclosure(page)

    page.click("#new-conversation")
    page.wait_for_url(re.compile(r"/conversations/\d+/$"))
    assert_help_and_disclosure(page)
    page.fill("textarea[name=content]", "I feel anxious before work every day")
    page.click("#send")

    reply = page.locator("article.message.assistant").last
    page.wait_for_function(
        "() => { const b = document.querySelector('article.message.assistant.streaming .body');"
        " return b && b.textContent.length > 0; }")
    partial = reply.locator(".body").inner_text()
    assert "streaming" in reply.get_attribute("class")  # text is on screen before the reply is complete
    page.wait_for_selector("article.message.assistant:not(.streaming)")
    final = reply.locator(".body").inner_text()
    assert final.startswith(partial) and len(final) > len(partial)
    assert final == reply_for("I feel anxious before work every day")

    page.reload()
    bodies = page.locator("article.message .body").all_inner_texts()
    assert bodies == ["I feel anxious before work every day", final]

    page.click("text=Log out")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert_help_and_disclosure(page)
    page.fill("input[name=username]", "stream_sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/conversations/$"))
    page.click("text=I feel anxious before work every day")
    assert page.locator("article.message .body").all_inner_texts()[-1] == final


def test_second_patient_without_consent_gets_404_on_the_first_patients_conversation(
        asgi_live_server, fake_groq, page, patient):
    theirs = Conversation.objects.create(patient=patient, title="Private")
    base = asgi_live_server.url
    sign_up(page, base, "nosy_nick", consent=False)
    assert PatientProfile.objects.get(user__username="nosy_nick").training_consent is False

    response = page.goto(base + reverse("conversations:detail", args=[theirs.pk]))

    assert response.status == 404
    assert "Private" not in page.content()


def test_failed_stream_shows_the_partial_reply_and_retry_answers_it(asgi_live_server, fake_groq, page):
    base = asgi_live_server.url
    sign_up(page, base, "retry_rita", consent=False)
    page.click("#new-conversation")
    fake_groq.configure(fault="drop", drop_after_chunks=12)
    page.fill("textarea[name=content]", "I have been so tired lately")
    page.click("#send")

    alert = page.locator("article.message.assistant .failure")
    alert.wait_for()
    assert "dropped before the reply finished" in alert.inner_text()
    assert "incomplete" in alert.inner_text()

    fake_groq.configure(fault="")
    started = time.monotonic()
    page.click("button.retry")
    page.wait_for_selector("article.message.assistant:not(.failed)")
    assert time.monotonic() - started < 10
    bodies = page.locator("article.message .body").all_inner_texts()
    assert len(bodies) == 2 and "Poor sleep" in bodies[1]
    assert page.locator("button.retry").count() == 0
