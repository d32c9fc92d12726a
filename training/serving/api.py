"""REST API for serving: the state (``/api/v1/serving/``), rollback, the promotion history, and
shadow pairs for clinicians to rate blind. Promote, sign-off and retire are actions on
``/api/v1/model-versions/{id}/`` (``training.api``). Thin: validate, call one service, present.

Errors: 400 bad input, 401 not signed in, 403 not allowed (model permissions, the same the
admin asks), 404 unknown, 409 the change is refused in the current state (the reason says why).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from therapist_ai.api_fields import ID_MAX, StrictCharField, StrictIntegerField
from therapist_ai.api_schema import PROBLEM, Conflict
from therapist_ai.permissions import ActionPermissions
from training.evaluation import RatingError, shadow_pair, shadow_pair_rate
from training.models import (
    EvalReply,
    ModelVersion,
    ServingChange,
    ServingState,
    ShadowReply,
    VersionEvaluation,
)
from training.serving import services
from training.serving.state import serving_summary


class ServingConflict(Conflict):
    pass


@contextmanager
def serving_problems():
    """A refused serving change or rating becomes a 409 with the reason."""
    try:
        yield
    except (services.ServingError, RatingError) as exc:
        raise ServingConflict(str(exc)) from None


def valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ServingReasonSerializer(serializers.Serializer):
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=2000)


class NoteSerializer(serializers.Serializer):
    note = StrictCharField(required=False, allow_blank=True, default="", max_length=2000)


class ModeSerializer(ServingReasonSerializer):
    mode = serializers.ChoiceField(choices=ServingState.Mode.choices)
    shadow_version = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=ID_MAX,
        help_text="The candidate for shadow mode (a model version id); defaults to the current one. "
                  "An unknown id is refused with 409, like any version that cannot be the candidate.")


def _shadow_version(version_id: int | None) -> ModelVersion | None:
    if version_id is None:
        return None
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise ServingConflict(f"There is no model version {version_id}.")
    return version


class OutcomesSerializer(serializers.Serializer):
    local_replies = serializers.IntegerField()
    fallbacks = serializers.IntegerField()
    replaced = serializers.IntegerField()
    attempts = serializers.IntegerField()


class ServingSerializer(serializers.Serializer):
    mode = serializers.CharField(source="state.mode")
    active_version = serializers.SerializerMethodField()
    shadow_version = serializers.SerializerMethodField()
    revision = serializers.IntegerField(source="state.revision")
    changed_at = serializers.DateTimeField(source="state.changed_at", allow_null=True)
    changed_by = serializers.SerializerMethodField()
    alert = serializers.CharField(source="state.alert")
    fallbacks_last_hour = OutcomesSerializer(source="last_hour")
    fallbacks_window = OutcomesSerializer(source="window")

    def _version(self, version) -> dict | None:
        return {"id": version.pk, "name": version.name} if version else None

    def get_active_version(self, summary) -> dict | None:
        return self._version(summary["state"].active_version)

    def get_shadow_version(self, summary) -> dict | None:
        return self._version(summary["state"].shadow_version)

    def get_changed_by(self, summary) -> str | None:
        user = summary["state"].changed_by
        return user.get_username() if user else None


class ServingChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServingChange
        fields = ["id", "action", "actor_label", "from_mode", "to_mode", "from_version", "to_version",
                  "shadow_version", "reason", "created_at"]
        read_only_fields = fields


class EvalReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = EvalReply
        fields = ["prompt_text", "responder", "model_name", "content", "length", "error", "latency_ms",
                  "output_safe", "output_categories"]
        read_only_fields = fields


class EvaluationSerializer(serializers.ModelSerializer):
    replies = EvalReplySerializer(many=True, read_only=True)

    class Meta:
        model = VersionEvaluation
        fields = ["status", "active_version", "hosted_model", "summary", "error", "created_at", "finished_at",
                  "replies"]
        read_only_fields = fields


class ServingView(APIView):
    """Who answers patients now, and how local serving went (fallbacks, replacements)."""

    permission_classes = [ActionPermissions]
    action_permissions = {"get": ["training.view_servingstate"],
                          "patch": ["training.change_servingstate", "training.promote_modelversion"]}
    partial_patch = False  # a PATCH names the mode (the schema says so)

    @extend_schema(responses={200: ServingSerializer})
    def get(self, request):
        return Response(ServingSerializer(serving_summary()).data)

    @extend_schema(request=ModeSerializer, responses={200: ServingSerializer, 409: PROBLEM})
    def patch(self, request):
        """Switch the mode: ``hosted``, ``local`` (the active version) or ``shadow`` (a candidate)."""
        data = valid(ModeSerializer, request)
        with serving_problems():
            services.serving_mode_set(mode=data["mode"], actor=request.user, reason=data["reason"],
                                      shadow_version=_shadow_version(data.get("shadow_version")))
        return Response(ServingSerializer(serving_summary()).data)


class ServingRollbackView(APIView):
    """Back to the previous active version in one action (``hosted`` when there is none)."""

    permission_classes = [ActionPermissions]
    action_permissions = {"post": ["training.change_servingstate", "training.promote_modelversion"]}

    @extend_schema(request=ServingReasonSerializer, responses={200: ServingSerializer, 409: PROBLEM})
    def post(self, request):
        data = valid(ServingReasonSerializer, request)
        with serving_problems():
            services.serving_rollback(actor=request.user, reason=data["reason"])
        return Response(ServingSerializer(serving_summary()).data)


class ServingHistoryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The promotion history, newest first (append-only)."""

    queryset = ServingChange.objects.all()
    serializer_class = ServingChangeSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"list": ["training.view_servingchange"]}


class ShadowPairSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient_message = serializers.CharField()
    A = serializers.CharField()
    B = serializers.CharField()


class RateSerializer(NoteSerializer):
    choice = serializers.ChoiceField(choices=["A", "B", "same"])


class ShadowPairViewSet(viewsets.GenericViewSet):
    """Shadow pairs this clinician has not rated yet: the two replies as A and B, in random order.
    ``POST .../rate/`` records the choice and reveals which reply was the candidate's."""

    permission_classes = [ActionPermissions]
    action_permissions = {"list": ["training.rate_shadowreply"], "rate": ["training.rate_shadowreply"]}
    lookup_value_regex = r"[0-9]{1,18}"
    serializer_class = ShadowPairSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ShadowReply.objects.none()
        return (ShadowReply.objects.filter(error="").exclude(ratings__clinician=self.request.user)
                .select_related("patient_message", "hosted_reply", "version"))

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([shadow_pair(s) for s in page])

    @extend_schema(request=RateSerializer, responses={
        200: inline_serializer("ShadowRatingRevealed", {"preferred": serializers.CharField(),
                                                        "candidate_was": serializers.CharField(),
                                                        "version": serializers.CharField()}),
        409: PROBLEM})
    @action(detail=True, methods=["post"])
    def rate(self, request, pk=None):
        shadow = get_object_or_404(ShadowReply.objects.select_related("version"), pk=pk, error="")
        data = valid(RateSerializer, request)
        with serving_problems():
            rating = shadow_pair_rate(shadow=shadow, clinician=request.user, choice=data["choice"], note=data["note"])
        return Response({"preferred": rating.preferred, "candidate_was": "A" if shadow.candidate_first else "B",
                         "version": shadow.version.name})
