"""Patient pages: download all my data, delete my account (with password)."""

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from conversations.models import Conversation, ErasureRecord
from devtools.factories import TEST_PASSWORD, make_transcript

pytestmark = pytest.mark.django_db


def test_settings_page_links_to_data_page(patient_client):
    html = patient_client.get(reverse("patient_settings")).content.decode()
    assert reverse("patient_data") in html


def test_patient_downloads_all_their_data_as_json(patient_client, patient):
    make_transcript(patient, [("my first words", "a reply")])

    response = patient_client.get(reverse("patient_data"), {"download": "1"})

    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["account"]["username"] == patient.username
    assert data["conversations"][0]["messages"][0]["content"] == "my first words"


def test_wrong_password_keeps_the_account(patient_client, patient):
    response = patient_client.post(reverse("patient_delete"), {"password": "nope", "confirm": "on"})
    assert "That password is not correct." in response.content.decode()
    assert User.objects.filter(pk=patient.pk).exists()


def test_patient_deletes_account_and_data_after_confirming(patient_client, patient):
    conv = make_transcript(patient, [("delete me", "ok")])

    response = patient_client.post(reverse("patient_delete"),
                                   {"password": TEST_PASSWORD, "confirm": "on"}, follow=True)

    assert "Your account and all your data have been deleted." in response.content.decode()
    assert not User.objects.filter(pk=patient.pk).exists()
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert ErasureRecord.objects.get().message_count == 2
    assert patient_client.get(reverse("patient_data")).status_code == 302  # logged out
