"""REST API for accounts: tokens (``/api/v1/auth/token/``) and a patient's own data rights
(``/api/v1/me/``: consent, export, delete). Thin: validate, call one service, present."""

from __future__ import annotations

from django.contrib.auth import logout
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from conversations.accounts.selectors import patient_data_export
from conversations.accounts.services import patient_consent_set, patient_erase, patient_profile_ensure
from therapist_ai.audit import audit_record
from therapist_ai.roles import is_patient


def _valid(serializer_class, request) -> dict:
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


class TokenObtainThrottle(AnonRateThrottle):
    """Per client address (``DEFAULT_THROTTLE_RATES["anon"]``), read live like ``MessagePostThrottle``."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenObtainView(ObtainAuthToken):
    """Exchange a username and password for an API token.

    Failed attempts count towards django-axes' lockout like failed web logins do, and
    each client address gets ``DEFAULT_THROTTLE_RATES["anon"]`` attempts a minute.
    """

    throttle_classes = [TokenObtainThrottle]

    def get_serializer_context(self):
        # axes marks the Django request (not DRF's wrapper) as locked out; its
        # middleware turns that mark into the lockout response.
        return {"request": self.request._request, "format": self.format_kwarg, "view": self}


class IsPatientSelf(BasePermission):
    message = "Only patients can use this endpoint."

    def has_permission(self, request, view) -> bool:
        return is_patient(request.user)


class ConsentSerializer(serializers.Serializer):
    training_consent = serializers.BooleanField()
    training_consent_changed_at = serializers.DateTimeField(read_only=True)


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField()


class MeConsentView(APIView):
    """Read or change whether your conversations may be used for training."""

    permission_classes = [IsPatientSelf]

    @extend_schema(responses=ConsentSerializer)
    def get(self, request):
        return Response(ConsentSerializer(patient_profile_ensure(user=request.user)).data)

    @extend_schema(request=ConsentSerializer, responses=ConsentSerializer)
    def put(self, request):

        data = _valid(ConsentSerializer, request)
        profile = patient_consent_set(user=request.user, training_consent=data["training_consent"],
                                      actor=request.user)
        return Response(ConsentSerializer(profile).data)


class MeExportView(APIView):
    """Everything we hold about you, as JSON."""

    permission_classes = [IsPatientSelf]

    @extend_schema(responses={200: dict})
    def get(self, request):
        audit_record(actor=request.user, action="patient.data_export", target_type="user",
                              target_id=request.user.pk)
        return Response(patient_data_export(request.user))


class MeView(APIView):
    """Delete your account and all your data (password required)."""

    permission_classes = [IsPatientSelf]

    @extend_schema(request=PasswordSerializer, responses={204: None})
    def delete(self, request):
        data = _valid(PasswordSerializer, request)
        if not request.user.check_password(data["password"]):
            return Response({"password": ["That password is not correct."]}, status=status.HTTP_400_BAD_REQUEST)
        patient_erase(user=request.user, actor=request.user)
        if hasattr(request, "session"):
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
