"""REST API for accounts: tokens (``/api/v1/auth/token/``), a patient's own data rights
(``/api/v1/me/``: consent, export, delete; permission ``conversations.manage_own_data``) and,
for staff, the erasure records (``/api/v1/erasure-records/``). Thin: validate, call one
service, present."""

from __future__ import annotations

from django.contrib.auth import logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from conversations.accounts.selectors import patient_data_export
from conversations.accounts.services import patient_consent_set, patient_erase, patient_profile_ensure
from conversations.models import ErasureRecord
from therapist_ai.api_fields import StrictBooleanField, StrictCharField
from therapist_ai.api_schema import ProblemSerializer
from therapist_ai.audit import audit_record
from therapist_ai.permissions import ActionPermissions

OWN_DATA = ["conversations.manage_own_data"]


def _valid(serializer_class, request) -> dict:
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


class TokenObtainThrottle(AnonRateThrottle):
    """Per client address (``DEFAULT_THROTTLE_RATES["anon"]``), read live like the chat-turn throttle."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class CredentialsSerializer(AuthTokenSerializer):
    """Username and password (JSON strings, or form fields)."""

    username = StrictCharField(label="Username", write_only=True)
    password = StrictCharField(label="Password", style={"input_type": "password"}, trim_whitespace=False,
                               write_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class TokenObtainView(ObtainAuthToken):
    """Exchange a username and password for an API token.

    Wrong credentials get 401. Failed attempts count towards django-axes' lockout like failed
    web logins do (429 once locked out), and each client address gets
    ``DEFAULT_THROTTLE_RATES["anon"]`` attempts a minute (429 past it). Credentials in the
    body are all it reads: an ``Authorization`` header (a stale token) is ignored.
    """

    serializer_class = CredentialsSerializer
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenObtainThrottle]

    def get_serializer_context(self):
        # axes marks the Django request (not DRF's wrapper) as locked out; its
        # middleware turns that mark into the lockout response.
        return {"request": self.request._request, "format": self.format_kwarg, "view": self}

    @extend_schema(request=CredentialsSerializer, responses={
        200: TokenSerializer, 401: OpenApiResponse(ProblemSerializer, description="Wrong username or password.")})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            errors = serializer.errors.get("non_field_errors", [])
            if any(getattr(e, "code", "") == "authorization" for e in errors):
                raise WrongCredentials(errors[0])
            raise serializers.ValidationError(serializer.errors)
        return Response({"token": Token.objects.get_or_create(user=serializer.validated_data["user"])[0].key})


    def get_authenticate_header(self, request):
        # No authenticators here (a stale header is ignored), so name the scheme for the 401.
        return "Token"


class WrongCredentials(AuthenticationFailed):
    default_code = "authorization"


class ConsentSerializer(serializers.Serializer):
    training_consent = StrictBooleanField()
    training_consent_changed_at = serializers.DateTimeField(read_only=True)


class PasswordSerializer(serializers.Serializer):
    password = StrictCharField(trim_whitespace=False, help_text="Your password, to confirm.")


class _OwnData(APIView):
    permission_classes = [ActionPermissions]
    permission_denied_message = "Only patients can use this endpoint."


class MeConsentView(_OwnData):
    """Read or change whether your conversations may be used for training."""

    action_permissions = {"get": OWN_DATA, "put": OWN_DATA}

    @extend_schema(responses=ConsentSerializer)
    def get(self, request):
        return Response(ConsentSerializer(patient_profile_ensure(user=request.user)).data)

    @extend_schema(request=ConsentSerializer, responses=ConsentSerializer)
    def put(self, request):

        data = _valid(ConsentSerializer, request)
        profile = patient_consent_set(user=request.user, training_consent=data["training_consent"],
                                      actor=request.user)
        return Response(ConsentSerializer(profile).data)


class MeExportView(_OwnData):
    """Everything we hold about you, as JSON."""

    action_permissions = {"get": OWN_DATA}

    @extend_schema(responses={200: dict})
    def get(self, request):
        audit_record(actor=request.user, action="patient.data_export", target_type="user",
                              target_id=request.user.pk)
        return Response(patient_data_export(request.user))


class MeView(_OwnData):
    """Delete your account and all your data (your password in the body confirms it)."""

    action_permissions = {"delete": OWN_DATA}
    request_body_methods = ("DELETE",)  # the schema documents the body of this DELETE

    @extend_schema(request=PasswordSerializer, responses={
        204: None, 403: OpenApiResponse(ProblemSerializer, description="Not a patient, or the password is not correct.")})
    def delete(self, request):
        data = _valid(PasswordSerializer, request)
        if not request.user.check_password(data["password"]):
            # A well-formed request whose confirmation fails: refused, not malformed.
            raise PermissionDenied("That password is not correct.")
        patient_erase(user=request.user, actor=request.user)
        if hasattr(request, "session"):
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ErasureRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErasureRecord
        # As the admin shows them: counts and ids, never who it was (message ids left out).
        fields = ["id", "erased_at", "subject_hash", "key_id", "conversation_count", "message_count",
                  "conversation_ids", "queued_tasks_removed", "requested_by_self"]
        read_only_fields = fields


class ErasureRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What each erasure removed, newest first (staff)."""

    queryset = ErasureRecord.objects.order_by("-erased_at", "-id")
    serializer_class = ErasureRecordSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"list": ["conversations.view_erasurerecord"],
                          "retrieve": ["conversations.view_erasurerecord"]}
    lookup_value_regex = r"[0-9]{1,18}"
