"""REST API for safety flags: clinicians list and handle them; staff read; patients never."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from conversations.safety import services
from conversations.safety.models import SafetyFlag
from therapist_ai.roles import is_clinician, is_staff_member


class CanSeeFlags(BasePermission):
    message = "Only clinicians (and, read-only, staff) can see safety flags."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return is_clinician(request.user) or is_staff_member(request.user)
        return is_clinician(request.user)


class SafetyFlagSerializer(serializers.ModelSerializer):
    handled_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = SafetyFlag
        fields = ["id", "conversation", "message", "level", "categories", "reason", "created_at", "is_open",
                  "handled_at", "handled_by", "handled_note"]
        read_only_fields = fields


class FlagHandleSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=4000, help_text="What was done: who was contacted, the outcome.")


class SafetyFlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Open flags first, newest first. ``?open=true`` lists only unhandled flags."""

    serializer_class = SafetyFlagSerializer
    permission_classes = [CanSeeFlags]

    def get_queryset(self):
        from django.db.models import F

        qs = SafetyFlag.objects.select_related("handled_by")
        if self.request.query_params.get("open") in {"1", "true", "yes"}:
            qs = qs.open()
        return qs.order_by(F("handled_at").asc(nulls_first=True), "-created_at", "-id")

    @extend_schema(request=FlagHandleSerializer, responses=SafetyFlagSerializer)
    @action(detail=True, methods=["post"])
    def handle(self, request, pk=None):
        body = FlagHandleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        flag = services.flag_handle(flag=self.get_object(), actor=request.user, note=body.validated_data["note"])
        return Response(SafetyFlagSerializer(flag).data)
