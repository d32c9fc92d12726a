"""REST API: auth, ownership, roles, chat turns, idempotency, validation, limits."""

import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.services.chat import conversation_create
from devtools.factories import TEST_PASSWORD

API = "/api/v1"


@pytest.fixture(autouse=True)
def _fresh_throttle_and_lockout_state():
    cache.clear()  # throttle history lives in the cache
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def patient_api(patient):
    client = APIClient()
    client.force_authenticate(patient)
    return client


@pytest.fixture
def conversation(patient):
    return conversation_create(patient=patient, title="Sleep")


def post_message(client, conversation_id, content="I could not sleep again.", **headers):
    return client.post(f"{API}/conversations/{conversation_id}/messages/", {"content": content}, format="json",
                       headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/conversations/"),
        ("post", "/conversations/"),
        ("get", "/conversations/{id}/"),
        ("post", "/conversations/{id}/messages/"),
        ("post", "/conversations/{id}/messages/1/retry/"),
    ],
)
def test_anonymous_gets_401_on_every_api_endpoint(api, conversation, method, path):
    response = getattr(api, method)(API + path.format(id=conversation.pk), {"content": "hi"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "credentials were not provided" in response.json()["detail"]
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_token_from_username_and_password_authenticates_api_calls(api, patient, conversation):
    response = api.post(f"{API}/auth/token/", {"username": patient.username, "password": TEST_PASSWORD},
                        format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    listing = APIClient().get(f"{API}/conversations/", headers={"Authorization": f"Token {token}"})
    assert listing.status_code == 200
    assert [c["id"] for c in listing.json()["results"]] == [conversation.pk]


@pytest.mark.django_db
def test_wrong_token_gets_401(api):
    response = api.get(f"{API}/conversations/", headers={"Authorization": "Token not-a-real-token"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


@pytest.mark.django_db
def test_repeated_failed_token_logins_lock_the_account_out(api, patient, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        bad = api.post(f"{API}/auth/token/", {"username": patient.username, "password": "wrong"}, format="json")
        assert bad.status_code in (401, 429)
    # The right password no longer works from this address: the failures counted.
    locked = api.post(f"{API}/auth/token/", {"username": patient.username, "password": TEST_PASSWORD},
                      format="json")
    assert locked.status_code == 429
    assert locked.json() == {"detail": "Too many failed login attempts. Try again later."}
    assert "token" not in locked.json()


@pytest.mark.django_db
def test_session_login_works_for_the_api(client, patient, conversation):
    client.force_login(patient)
    response = client.get(f"{API}/conversations/{conversation.pk}/")
    assert response.status_code == 200
    assert response.json()["title"] == "Sleep"


@pytest.mark.django_db
def test_session_authenticated_post_without_csrf_token_is_refused(patient, conversation):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(patient)
    response = post_message(client, conversation.pk)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_patient_sees_only_own_conversations_in_list(patient_api, patient, other_patient):
    mine = conversation_create(patient=patient, title="mine")
    conversation_create(patient=other_patient, title="theirs")
    response = patient_api.get(f"{API}/conversations/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [c["id"] for c in body["results"]] == [mine.pk]


@pytest.mark.django_db
def test_patient_cannot_read_or_post_to_another_patients_conversation(patient_api, other_patient, fake_groq):
    theirs = conversation_create(patient=other_patient, title="private")
    assert patient_api.get(f"{API}/conversations/{theirs.pk}/").status_code == 404
    assert post_message(patient_api, theirs.pk).status_code == 404
    assert Message.objects.count() == 0
    assert fake_groq.chat_requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["clinician", "staff_user"])
def test_clinicians_and_staff_get_403_on_patient_endpoints(request, role, conversation, fake_groq):
    client = APIClient()
    client.force_authenticate(request.getfixturevalue(role))
    assert client.get(f"{API}/conversations/").status_code == 403
    assert client.get(f"{API}/conversations/{conversation.pk}/").status_code == 403
    response = post_message(client, conversation.pk)
    assert response.status_code == 403
    assert response.json() == {"detail": "Only patients can use this endpoint."}
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_patient_creates_a_conversation(patient_api, patient):
    response = patient_api.post(f"{API}/conversations/", {"title": "Work stress"}, format="json")
    assert response.status_code == 201
    created = Conversation.objects.get(pk=response.json()["id"])
    assert created.patient == patient
    assert created.title == "Work stress"


@pytest.mark.django_db
def test_conversation_list_is_paginated(patient_api, patient):
    for i in range(23):
        conversation_create(patient=patient, title=f"c{i}")
    first = patient_api.get(f"{API}/conversations/").json()
    assert first["count"] == 23
    assert len(first["results"]) == 20
    second = patient_api.get(first["next"]).json()
    assert len(second["results"]) == 3
    assert second["next"] is None


@pytest.mark.django_db
def test_posting_a_message_returns_the_stored_message_and_reply(patient_api, conversation, fake_groq):
    fake_groq.configure(reply="That sounds exhausting. What usually helps you wind down?")
    response = post_message(patient_api, conversation.pk, "I could not sleep again.")
    assert response.status_code == 201
    body = response.json()
    patient_message = Message.objects.get(pk=body["patient_message"]["id"])
    reply = Message.objects.get(pk=body["reply"]["id"])
    assert patient_message.content == body["patient_message"]["content"] == "I could not sleep again."
    assert patient_message.role == "patient" and reply.role == "assistant"
    assert reply.reply_to_id == patient_message.pk
    assert body["reply"]["content"] == reply.content == "That sounds exhausting. What usually helps you wind down?"
    assert body["reply"]["status"] == "ok"
    assert body["reply"]["provider"] == "groq"
    assert body["safety"]["level"] == "none"
    assert set(body["safety"]) == {"level", "categories", "resources"}
    assert body["created"] is True
    assert len(fake_groq.chat_requests) == 1
    detail = patient_api.get(f"{API}/conversations/{conversation.pk}/").json()
    assert [m["id"] for m in detail["messages"]] == [patient_message.pk, reply.pk]


@pytest.mark.django_db
def test_crisis_message_gets_the_crisis_reply_and_resources(patient_api, conversation, fake_groq):
    response = post_message(patient_api, conversation.pk, "I want to kill myself tonight")
    assert response.status_code == 201
    body = response.json()
    assert body["safety"]["level"] == "crisis"
    assert body["safety"]["resources"], "crisis turns carry resources"
    assert all({"name", "contact", "url"} <= set(r) for r in body["safety"]["resources"])
    assert "988" in body["reply"]["content"]


@pytest.mark.django_db
def test_retried_post_with_same_idempotency_key_returns_first_result(patient_api, conversation, fake_groq):
    first = post_message(patient_api, conversation.pk, "hello", **{"Idempotency-Key": "abc-123"})
    again = post_message(patient_api, conversation.pk, "hello", **{"Idempotency-Key": "abc-123"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["patient_message"] == first.json()["patient_message"]
    assert again.json()["reply"] == first.json()["reply"]
    assert Message.objects.filter(role="patient").count() == 1
    assert Message.objects.filter(role="assistant").count() == 1
    assert len(fake_groq.chat_requests) == 1


@pytest.mark.django_db
def test_posts_without_idempotency_key_are_separate_turns(patient_api, conversation, fake_groq):
    post_message(patient_api, conversation.pk, "hello")
    post_message(patient_api, conversation.pk, "hello")
    assert Message.objects.filter(role="patient").count() == 2


@pytest.mark.django_db
def test_failed_upstream_gives_502_with_the_stored_failed_reply_then_retry_answers(
    patient_api, conversation, fake_groq
):
    fake_groq.configure(fault="500")
    response = post_message(patient_api, conversation.pk, "are you there?")
    assert response.status_code == 502
    body = response.json()
    assert body["reply"]["status"] == "failed"
    assert body["reply"]["failure_reason"]
    assert "message is saved" in body["detail"]
    assert Message.objects.get(pk=body["patient_message"]["id"]).content == "are you there?"

    fake_groq.configure(fault="")
    retried = patient_api.post(
        f"{API}/conversations/{conversation.pk}/messages/{body['reply']['id']}/retry/", format="json"
    )
    assert retried.status_code == 201
    assert retried.json()["reply"]["status"] == "ok"
    assert retried.json()["patient_message"]["id"] == body["patient_message"]["id"]
    assert Message.objects.filter(role="patient").count() == 1
    assert Message.objects.filter(role="assistant").count() == 1
    again = patient_api.post(f"{API}/conversations/{conversation.pk}/messages/{body['reply']['id']}/retry/")
    assert again.status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["429", "401", "drop"])
def test_upstream_faults_never_give_a_500(patient_api, conversation, fake_groq, fault):
    fake_groq.configure(fault=fault)
    response = post_message(patient_api, conversation.pk, "hello")
    assert response.status_code in (201, 502)
    assert response.json()["patient_message"]["content"] == "hello"
    assert Message.objects.filter(role="patient").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload, field, words",
    [
        ({"content": ""}, "content", "blank"),
        ({"content": "   \n "}, "content", "blank"),
        ({}, "content", "required"),
        ({"content": None}, "content", "null"),
        ({"content": 42}, "content", "string"),
        ({"content": ["hi"]}, "content", "string"),
        ({"content": {"text": "hi"}}, "content", "string"),
    ],
)
def test_invalid_message_bodies_get_400_naming_the_field(patient_api, conversation, fake_groq, payload, field, words):
    response = patient_api.post(f"{API}/conversations/{conversation.pk}/messages/", payload, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert words in errors[field][0].lower()
    assert Message.objects.count() == 0
    assert fake_groq.chat_requests == []


@pytest.mark.django_db
def test_message_longer_than_the_limit_gets_400(patient_api, conversation, settings, fake_groq):
    settings.MESSAGE_MAX_CHARS = 100
    assert post_message(patient_api, conversation.pk, "x" * 100).status_code == 201
    response = post_message(patient_api, conversation.pk, "x" * 101)
    assert response.status_code == 400
    assert "no more than 100 characters" in response.json()["content"][0]
    assert Message.objects.filter(role="patient").count() == 1


@pytest.mark.django_db
def test_message_of_exactly_8000_characters_is_accepted_by_default(patient_api, conversation, fake_groq):
    response = post_message(patient_api, conversation.pk, "a" * 8000)
    assert response.status_code == 201
    assert len(Message.objects.get(role="patient").content) == 8000


@pytest.mark.django_db
def test_non_json_body_gets_400_with_a_clear_message(patient_api, conversation):
    response = patient_api.post(f"{API}/conversations/{conversation.pk}/messages/", data="{content: oops",
                                content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_json_array_body_gets_400(patient_api, conversation):
    response = patient_api.post(f"{API}/conversations/{conversation.pk}/messages/", data=json.dumps(["hi"]),
                                content_type="application/json")
    assert response.status_code == 400
    assert "Expected a dictionary" in response.json()["non_field_errors"][0]


@pytest.mark.django_db
def test_form_encoded_body_gets_415(patient_api, conversation):
    response = patient_api.post(f"{API}/conversations/{conversation.pk}/messages/", {"content": "hi"})
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


@pytest.mark.django_db
def test_body_over_the_byte_limit_gets_413_before_parsing(patient_api, conversation, settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    response = patient_api.post(f"{API}/conversations/{conversation.pk}/messages/",
                                data='{"content": "' + "x" * 2000 + '"}', content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Request body too large")
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_bad_idempotency_key_gets_400(patient_api, conversation, fake_groq):
    response = post_message(patient_api, conversation.pk, "hi", **{"Idempotency-Key": "k" * 201})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_message_posts_are_throttled_per_patient(patient_api, conversation, other_patient, settings, fake_groq):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "message_post": "2/min"},
    }
    assert post_message(patient_api, conversation.pk).status_code == 201
    assert post_message(patient_api, conversation.pk).status_code == 201
    throttled = post_message(patient_api, conversation.pk)
    assert throttled.status_code == 429
    assert "throttled" in throttled.json()["detail"].lower()
    assert int(throttled["Retry-After"]) > 0
    # Reading is not throttled, and another patient has their own allowance.
    assert patient_api.get(f"{API}/conversations/").status_code == 200
    other = APIClient()
    other.force_authenticate(other_patient)
    theirs = conversation_create(patient=other_patient)
    assert post_message(other, theirs.pk).status_code == 201
    assert Message.objects.filter(role="patient").count() == 3


@pytest.mark.django_db
def test_replay_while_the_first_request_is_still_answering_gets_409(patient_api, conversation, fake_groq):
    # The first request stored the patient message and is still waiting for the upstream.
    Message.objects.create(conversation=conversation, role="patient", content="hello", idempotency_key="k1")
    response = post_message(patient_api, conversation.pk, "hello", **{"Idempotency-Key": "k1"})
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json()["patient_message"]["content"] == "hello"
    assert Message.objects.count() == 1
    assert fake_groq.chat_requests == []


def _api_urls() -> list[str]:
    """Every /api/v1/ route (any app's), with ids filled in, except the public ones."""
    import re

    from django.urls import URLResolver

    from therapist_ai.urls import api_v1

    def routes(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    urls = []
    for route in routes(api_v1):
        if "format" in route or route in {"auth/token/", "schema/", "docs/"}:
            continue
        route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).lstrip("^").rstrip("$").replace("\\", "")
        route = re.sub(r"<(?:\w+:)?\w+>", "1", route)
        urls.append(f"{API}/{route}")
    return urls


@pytest.mark.django_db
def test_anonymous_gets_401_on_every_route_registered_under_api_v1(api):
    urls = _api_urls()
    assert f"{API}/conversations/1/messages/" in urls
    for url in urls:
        for method in ("get", "post"):
            response = getattr(api, method)(url, {}, format="json")
            assert response.status_code in (401, 405), (method, url, response.status_code)
            if response.status_code == 405:
                continue
            assert response["WWW-Authenticate"] == "Token", url


@pytest.mark.django_db
def test_retry_only_reaches_failed_replies_in_the_patients_own_conversation(
    patient_api, patient, other_patient, conversation, fake_groq
):
    fake_groq.configure(fault="500")
    theirs = conversation_create(patient=other_patient)
    their_reply = message_send_failed(theirs)
    my_other = conversation_create(patient=patient)
    my_reply = message_send_failed(my_other)
    fake_groq.configure(fault="")
    asked = len(fake_groq.chat_requests)
    # Another patient's reply, through their conversation or smuggled into mine: 404.
    assert patient_api.post(f"{API}/conversations/{theirs.pk}/messages/{their_reply.pk}/retry/").status_code == 404
    assert patient_api.post(f"{API}/conversations/{conversation.pk}/messages/{their_reply.pk}/retry/").status_code == 404
    # My reply, but under a different conversation id: 404 too.
    assert patient_api.post(f"{API}/conversations/{conversation.pk}/messages/{my_reply.pk}/retry/").status_code == 404
    assert len(fake_groq.chat_requests) == asked  # nobody was asked again
    assert Message.objects.filter(status="failed").count() == 2


def message_send_failed(conversation):
    from conversations.services.chat import message_send

    turn = message_send(conversation=conversation, content="hello?")
    assert turn.reply.status == "failed"
    return turn.reply


@pytest.mark.django_db
def test_token_requests_are_throttled_per_client_address(api, patient, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"},
    }
    credentials = {"username": patient.username, "password": TEST_PASSWORD}
    assert api.post(f"{API}/auth/token/", credentials, format="json").status_code == 200
    assert api.post(f"{API}/auth/token/", credentials, format="json").status_code == 200
    throttled = api.post(f"{API}/auth/token/", credentials, format="json")
    assert throttled.status_code == 429
    assert "token" not in throttled.json()
