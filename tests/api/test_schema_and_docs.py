"""OpenAPI schema and Swagger UI: served from our own static files, allowed by our CSP."""

import re

import pytest
from django.contrib.staticfiles import finders


@pytest.mark.django_db
def test_openapi_schema_describes_the_conversation_endpoints(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Therapist AI API"
    paths = schema["paths"]
    assert {"/api/v1/auth/token/", "/api/v1/conversations/", "/api/v1/conversations/{id}/",
            "/api/v1/conversations/{id}/messages/"} <= set(paths)
    post = paths["/api/v1/conversations/{id}/messages/"]["post"]
    assert {"200", "201", "409", "502"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])


@pytest.mark.django_db
def test_swagger_ui_loads_only_local_static_files_and_no_inline_script(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    for source in sources:
        assert source.startswith("/"), f"{source} is not served by us"
        assert not source.startswith("//")
    assets = [s for s in sources if s.startswith("/static/")]
    assert len(assets) >= 3  # bundle, preset, css (+ favicon)
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not in the static files"
    # Every <script> has a src (CSP: script-src 'self', no inline scripts).
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "http" not in csp


@pytest.mark.django_db
def test_swagger_ui_init_script_is_served_as_javascript(client):
    response = client.get("/api/v1/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in response.content.decode()
