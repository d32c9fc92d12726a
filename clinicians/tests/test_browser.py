"""The clinician flow in real Chromium: queue -> transcript -> accept a suggestion ->
redact a selection -> approve; then the export reflects it."""

import json
import os
import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse

from clinicians.models import Review
from devtools.factories import make_patient, make_transcript

pytestmark = [pytest.mark.browser, pytest.mark.slow]
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "Quiet-meadow-4711"


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.console_errors = errors
        yield page
        browser.close()


def select_text(page, message_id, text):
    """Select ``text`` inside a message's original like a mouse drag would, then release."""
    page.evaluate(
        """([id, needle]) => {
            const root = document.querySelector(`.original[data-message-id="${id}"]`);
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode())) {
                const at = node.textContent.indexOf(needle);
                if (at >= 0) {
                    const range = document.createRange();
                    range.setStart(node, at); range.setEnd(node, at + needle.length);
                    const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
                    root.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
                    return;
                }
            }
            throw new Error("text not found");
        }""",
        [message_id, text],
    )


@pytest.mark.django_db(transaction=True)
def test_clinician_curates_a_transcript_in_the_admin_and_the_export_reflects_it(live_server, page, tmp_path):
    clinician = User.objects.create_user("cl_browser", password=PASSWORD, is_staff=True)
    clinician.groups.add(Group.objects.get(name="Clinicians"))
    patient = make_patient("br_patient")
    said = "My friend Rosalind said to email me at rosa.lind@home.example.com about it."
    conv = make_transcript(patient, [(said, "That sounds supportive."), ("Thanks, bye", "Take care.")],
                           title="Browser transcript")
    message = conv.messages.get(content=said)
    from clinicians.services import redactions_suggest_pending

    redactions_suggest_pending()  # the worker scans new messages within a minute

    page.goto(live_server.url + reverse("admin:login"))
    page.fill("input[name=username]", "cl_browser")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.click("text=Review queue")
    page.wait_for_url(re.compile(r"/admin/clinicians/transcript/"))
    page.click("text=Browser transcript")
    page.wait_for_selector("#transcript")

    # the e-mail is suggested and highlighted; accept it
    assert page.inner_text(f'.original[data-message-id="{message.pk}"] mark.span-suggested') == \
        "rosa.lind@home.example.com"
    page.click(f"#message-{message.pk} .redaction-suggested .accept-button")
    page.wait_for_selector(f'#redacted-{message.pk}:has-text("[EMAIL]")')

    # a name no recognizer knows: select it, the span fields fill in, redact
    select_text(page, message.pk, "Rosalind")
    form = f'form.manual-redaction[data-message-id="{message.pk}"]'
    start = said.index("Rosalind")
    assert page.input_value(f"{form} .span-start") == str(start)
    assert page.input_value(f"{form} .span-end") == str(start + len("Rosalind"))
    page.select_option(f"{form} .span-label", "NAME")
    page.click(f"{form} .redact-button")
    page.wait_for_selector(f'#redacted-{message.pk}:has-text("[NAME]")')
    assert page.inner_text(f"#redacted-{message.pk}") == "My friend [NAME] said to email me at [EMAIL] about it."
    assert page.inner_text(f'.original[data-message-id="{message.pk}"]') == said  # original untouched

    page.click("#approve-button")
    page.wait_for_selector("#review-status:has-text('approved')")
    assert Review.objects.get(conversation=conv).status == "approved"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]

    out = tmp_path / "set.jsonl"
    call_command("export_dataset", "--out", str(out))
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["messages"][1]["content"] == "My friend [NAME] said to email me at [EMAIL] about it."
    assert "Rosalind" not in out.read_text() and "rosa.lind" not in out.read_text()
