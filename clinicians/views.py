"""Patient pages for their data rights: download everything, delete the account."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinicians import selectors, services
from therapist_ai.roles import is_patient


def _patient_only(request) -> None:
    if not is_patient(request.user):
        raise PermissionDenied("Only patients have data pages.")


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               label="Your password")
    confirm = forms.BooleanField(label="I understand that my account and all my conversations will be deleted "
                                       "for good.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That password is not correct.")
        return password


@login_required
def patient_data(request):
    _patient_only(request)
    if request.GET.get("download"):
        services.audit_record(actor=request.user, action="patient.data_export", target_type="user",
                              target_id=request.user.pk)
        body = json.dumps(selectors.patient_data_export(request.user), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d")
        response["Content-Disposition"] = f'attachment; filename="therapist-ai-data-{stamp}.json"'
        return response
    counts = {"conversations": request.user.conversations.count()}
    return render(request, "clinicians/patient_data.html", {"counts": counts})


@login_required
@require_http_methods(["GET", "POST"])
def patient_delete(request):
    _patient_only(request)
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        services.patient_erase(user=request.user, actor=request.user)
        logout(request)
        messages.success(request, "Your account and all your data have been deleted.")
        return redirect("login")
    return render(request, "clinicians/patient_delete.html", {"form": form})
