"""`manage.py setup_roles`: groups and permissions always; demo accounts only with DEBUG=1."""

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run() -> str:
    out = io.StringIO()
    call_command("setup_roles", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_groups_and_permissions_are_created_idempotently():
    run()
    run()

    assert set(Group.objects.values_list("name", flat=True)) >= {"Patients", "Clinicians", "Staff"}
    clinicians = Group.objects.get(name="Clinicians")
    assert clinicians.permissions.filter(codename="view_conversation").exists()
    assert Group.objects.filter(name="Clinicians").count() == 1


def test_demo_accounts_are_created_once_with_printed_passwords_when_debug(settings):
    settings.DEBUG = True

    first = run()
    second = run()

    for username in ("demo_patient", "demo_clinician", "demo_staff"):
        password = first.split(f"username {username}  password ")[1].split()[0]
        assert User.objects.get(username=username).check_password(password)
        assert password not in second
        assert f"changepassword {username}" in second
    assert User.objects.get(username="demo_patient").groups.filter(name="Patients").exists()
    assert not User.objects.get(username="demo_patient").is_staff
    clinician, staff = User.objects.get(username="demo_clinician"), User.objects.get(username="demo_staff")
    assert clinician.is_staff and clinician.groups.filter(name="Clinicians").exists()
    assert staff.is_staff and staff.groups.filter(name="Staff").exists()


def test_no_demo_accounts_when_debug_is_off(settings):
    settings.DEBUG = False

    output = run()

    assert "no demo accounts" in output
    assert not User.objects.filter(username__startswith="demo_").exists()
