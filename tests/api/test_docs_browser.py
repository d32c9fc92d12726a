"""Swagger UI renders in real Chromium under our CSP, loading nothing from other hosts."""

import os

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_swagger_ui_renders_the_api_with_no_csp_violation_and_no_foreign_request(asgi_live_server):
    from playwright.sync_api import sync_playwright

    problems, foreign = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("request", lambda req: None if req.url.startswith(asgi_live_server.url) or req.url.startswith("data:")
                else foreign.append(req.url))
        page.goto(f"{asgi_live_server.url}/api/v1/docs/")
        page.wait_for_selector(".swagger-ui .info .title")
        title = page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector("text=/api/v1/conversations/{id}/messages/")
        operations = page.locator(".opblock").count()
        browser.close()
    assert "Therapist AI API" in title
    assert operations >= 5
    assert foreign == []
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
    assert problems == []
