"""Sign-up, consent, log in/out, password change and brute-force lockout, through the pages."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from conversations.models import PatientProfile
from devtools.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {"username": "newpatient", "email": "new@example.com", "password": "Quiet-river-5521",
          "password_again": "Quiet-river-5521", "phone": ""}


def test_signup_page_says_it_is_an_ai_and_consent_is_unticked(client):
    page = client.get(reverse("signup")).content.decode()

    assert "is an AI, not a human and not a licensed therapist" in page
    consent = re.search(r'<input[^>]*name="training_consent"[^>]*>', page).group(0)
    terms = re.search(r'<input[^>]*name="accept_terms"[^>]*>', page).group(0)
    assert "checked" not in consent
    assert "required" in terms


def test_signup_with_training_consent_stores_choice_with_time_and_logs_in(client):
    response = client.post(reverse("signup"), {**SIGNUP, "accept_terms": "on", "training_consent": "on",
                                                "phone": "+1 415 555 0132"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("conversations:list")
    assert response.context["user"].username == "newpatient"
    profile = PatientProfile.objects.get(user__username="newpatient")
    assert profile.training_consent is True
    assert profile.training_consent_changed_at is not None and profile.terms_accepted_at is not None
    assert profile.phone == "+1 415 555 0132"
    assert profile.user.groups.filter(name="Patients").exists()
    assert not profile.user.is_staff


def test_signup_without_training_consent_is_allowed_and_stored_as_no(client):
    client.post(reverse("signup"), {**SIGNUP, "accept_terms": "on"})

    assert PatientProfile.objects.get(user__username="newpatient").training_consent is False


def test_signup_without_accepting_terms_is_refused(client):
    response = client.post(reverse("signup"), {**SIGNUP, "training_consent": "on"})

    assert response.status_code == 200
    assert "You need to agree to the terms" in response.content.decode()
    assert not User.objects.filter(username="newpatient").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "123", "password_again": "123"}, "too short"),
        ({"password_again": "Different-pass-1"}, "The two passwords differ"),
        ({"username": "bad name!"}, "Enter a valid username"),
    ],
)
def test_signup_rejects_bad_input_with_a_clear_message(client, change, message):
    response = client.post(reverse("signup"), {**SIGNUP, "accept_terms": "on", **change})

    assert message in response.content.decode()
    assert User.objects.count() == 0


def test_signup_rejects_a_taken_username_case_insensitively(client, patient):
    response = client.post(reverse("signup"), {**SIGNUP, "username": "Patient_Ann", "accept_terms": "on"})

    assert "That username is taken" in response.content.decode()


def test_patient_can_withdraw_and_give_consent_on_the_settings_page(patient_client, patient):
    before = PatientProfile.objects.get(user=patient).training_consent_changed_at

    response = patient_client.post(reverse("patient_settings"), {}, follow=True)

    profile = PatientProfile.objects.get(user=patient)
    assert profile.training_consent is False
    assert profile.training_consent_changed_at > before
    assert "will not be used" in response.content.decode()
    patient_client.post(reverse("patient_settings"), {"training_consent": "on"})
    assert PatientProfile.objects.get(user=patient).training_consent is True


def test_consent_change_is_audited_without_content(patient_client, patient):
    from therapist_ai.models import AuditEvent

    patient_client.post(reverse("patient_settings"), {})

    event = AuditEvent.objects.filter(action="patient.training_consent").order_by("-id").first()
    assert (event.before, event.after) == ("granted", "declined")
    assert str(event.target_id) == str(patient.pk)


def test_login_then_logout_by_post(client, patient):
    response = client.post(reverse("login"), {"username": "patient_ann", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.url == reverse("conversations:list")
    assert client.get(reverse("conversations:list")).status_code == 200

    assert client.get(reverse("logout")).status_code == 405  # logging out needs a POST
    client.post(reverse("logout"))

    assert client.get(reverse("conversations:list")).status_code == 302


def test_wrong_password_shows_an_error(client, patient):
    response = client.post(reverse("login"), {"username": "patient_ann", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_five_failed_logins_lock_the_account_even_for_the_right_password(client, patient):
    for _ in range(5):
        client.post(reverse("login"), {"username": "patient_ann", "password": "wrong-password"})

    response = client.post(reverse("login"), {"username": "patient_ann", "password": TEST_PASSWORD})

    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_patient_can_change_password(patient_client, patient):
    response = patient_client.post(reverse("password_change"), {
        "old_password": TEST_PASSWORD, "new_password1": "Brand-new-lantern-77",
        "new_password2": "Brand-new-lantern-77"})

    assert response.status_code == 302 and response.url == reverse("password_change_done")
    patient.refresh_from_db()
    assert patient.check_password("Brand-new-lantern-77")


@pytest.mark.parametrize("how", ["user.groups.add", "group.user_set.add", "legacy: no profile"])
def test_a_patient_made_outside_the_sign_up_page_is_a_working_patient(db, client, how):
    """The admin, a script or old data: every patient gets a profile (no training consent), and no
    patient endpoint answers 500 for a missing one."""
    from django.contrib.auth.models import Group, User
    from rest_framework.test import APIClient

    from conversations.models import PatientProfile
    from therapist_ai.roles import PATIENTS

    user = User.objects.create_user("made_by_admin", password="Another-tide-4159")
    group, _ = Group.objects.get_or_create(name=PATIENTS)
    if how == "group.user_set.add":
        group.user_set.add(user)
    else:
        user.groups.add(group)
    if how.startswith("legacy"):
        PatientProfile.objects.filter(user=user).delete()
    else:
        assert PatientProfile.objects.get(user=user).training_consent is False

    api = APIClient()
    api.force_authenticate(user)
    assert api.get("/api/v1/me/consent/").json()["training_consent"] is False
    assert api.put("/api/v1/me/consent/", {"training_consent": True}, format="json").status_code == 200
    assert PatientProfile.objects.get(user=user).training_consent is True
    conversation = api.post("/api/v1/conversations/", {}, format="json")
    assert conversation.status_code == 201
    assert api.get("/api/v1/me/export/").json()["profile"]["terms_accepted_at"] is None
    client.force_login(user)
    assert client.get("/settings/").status_code == 200
