"""Account pages: sign-up, settings (training consent), download your data, delete your account."""

import json
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from conversations.accounts.forms import ConsentForm, DeleteAccountForm, SignUpForm
from conversations.accounts.selectors import patient_data_export
from conversations.accounts.services import (
    patient_consent_set,
    patient_erase,
    patient_profile_ensure,
    patient_register,
)
from conversations.throttles import SignupThrottle, wait_seconds
from therapist_ai.audit import audit_record
from therapist_ai.roles import is_patient


def patient_required(view):
    """Logged-in patients only; clinicians and staff are sent to the admin instead."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_patient(request.user):
            if request.user.is_staff:
                return redirect("admin:index")
            raise PermissionDenied("This page is for patients.")
        return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("conversations:list")
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and (wait := wait_seconds(SignupThrottle, request)):
        form.add_error(None, f"Too many sign-ups from your network just now. Please try again in {wait // 60 + 1} "
                             "minutes.")
        return render(request, "registration/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        try:
            user = patient_register(**form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready. Start a conversation whenever you like.")
            return redirect("conversations:list")
    return render(request, "registration/signup.html", {"form": form})


@patient_required
@require_http_methods(["GET", "POST"])
def patient_settings(request):
    profile = patient_profile_ensure(user=request.user)
    form = ConsentForm(request.POST if request.method == "POST" else None, initial={"training_consent": profile.training_consent})
    if request.method == "POST" and form.is_valid():
        profile = patient_consent_set(user=request.user, training_consent=form.cleaned_data["training_consent"])
        messages.success(
            request,
            "Saved: your conversations may be used to improve the model."
            if profile.training_consent else "Saved: your conversations will not be used to improve the model.",
        )
        return redirect("patient_settings")
    return render(request, "accounts/settings.html", {"form": form, "profile": profile})


def _patient_only(request) -> None:
    if not is_patient(request.user):
        raise PermissionDenied("Only patients have data pages.")


@login_required
def patient_data(request):
    _patient_only(request)
    if request.GET.get("download"):
        audit_record(actor=request.user, action="patient.data_export", target_type="user",
                              target_id=request.user.pk)
        body = json.dumps(patient_data_export(request.user), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d")
        response["Content-Disposition"] = f'attachment; filename="therapist-ai-data-{stamp}.json"'
        return response
    counts = {"conversations": request.user.conversations.count()}
    return render(request, "accounts/data.html", {"counts": counts})


@login_required
@require_http_methods(["GET", "POST"])
def patient_delete(request):
    _patient_only(request)
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        patient_erase(user=request.user, actor=request.user)
        logout(request)
        messages.success(request, "Your account and all your data have been deleted.")
        return redirect("login")
    return render(request, "accounts/delete.html", {"form": form})
