"""Every path that asks a model shares one budget per patient (the API, the chat page, the stream,
retries); sign-ups are limited per client address. A limited patient is told clearly, and
nothing they wrote is lost."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Message
from conversations.services.chat import conversation_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    cache.clear()

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates}}

    yield set_rates
    cache.clear()


def test_the_api_the_page_the_stream_and_retries_share_one_budget_per_patient(
        rates, fake_groq, patient, patient_client, other_patient):
    rates(message_post="2/min")
    conversation = conversation_create(patient=patient)
    api = APIClient()
    api.force_authenticate(patient)
    assert api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "one"},
                    format="json").status_code == 201
    page = reverse("conversations:detail", args=[conversation.pk])
    assert patient_client.post(page, {"content": "two"}).status_code == 302

    limited = patient_client.post(page, {"content": "three, please keep me"})
    assert limited.status_code == 429
    html = limited.content.decode()
    assert "faster than the service allows" in html and "three, please keep me" in html  # text kept
    stream = patient_client.post(reverse("conversations:stream", args=[conversation.pk]), {"content": "four"})
    assert stream.status_code == 429 and int(stream["Retry-After"]) > 0
    assert "wait" in stream.json()["detail"]
    assert list(Message.objects.filter(role="patient").values_list("content", flat=True)) == ["one", "two"]
    assert len(fake_groq.chat_requests) == 2

    failed = Message.objects.filter(role="assistant").first()
    Message.objects.filter(pk=failed.pk).update(status="failed", failure_reason="upstream")
    retried = patient_client.post(reverse("conversations:retry", args=[failed.pk]), follow=True)
    assert "Too many messages" in retried.content.decode() and len(fake_groq.chat_requests) == 2
    assert Message.objects.get(pk=failed.pk).status == "failed"  # still there, retry later

    other = APIClient()  # another patient has their own allowance
    other.force_authenticate(other_patient)
    theirs = conversation_create(patient=other_patient)
    assert other.post(f"/api/v1/conversations/{theirs.pk}/messages/", {"content": "hi"},
                      format="json").status_code == 201


SIGNUP = {"username": "new_{}", "password": "Quiet-river-2718", "password_again": "Quiet-river-2718",
          "accept_terms": "on"}


def test_sign_ups_are_limited_per_client_address(rates, client):
    from django.contrib.auth.models import User

    rates(signup="2/hour")

    def sign_up(n, address):
        client.logout()
        data = {**SIGNUP, "username": SIGNUP["username"].format(n)}
        return client.post(reverse("signup"), data, REMOTE_ADDR=address)

    assert sign_up(1, "203.0.113.5").status_code == 302
    assert sign_up(2, "203.0.113.5").status_code == 302
    refused = sign_up(3, "203.0.113.5")
    assert refused.status_code == 429 and "Too many sign-ups" in refused.content.decode()
    assert not User.objects.filter(username="new_3").exists()
    assert sign_up(4, "198.51.100.7").status_code == 302  # another address has its own allowance
