"""REST API for safety flags: clinicians list and handle them; staff read; patients never
(``safety.view_safetyflag``, ``safety.change_safetyflag``: the permissions the admin asks)."""

from __future__ import annotations

from django.db.models import F
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from conversations.safety import services
from conversations.safety.models import SafetyFlag
from therapist_ai.api_fields import StrictBooleanField, StrictCharField
from therapist_ai.permissions import ActionPermissions

VIEW, CHANGE = "safety.view_safetyflag", "safety.change_safetyflag"


class SafetyFlagSerializer(serializers.ModelSerializer):
    handled_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = SafetyFlag
        fields = ["id", "conversation", "message", "level", "categories", "reason", "created_at", "is_open",
                  "handled_at", "handled_by", "handled_note"]
        read_only_fields = fields


class FlagHandleSerializer(serializers.Serializer):
    note = StrictCharField(max_length=4000, help_text="What was done: who was contacted, the outcome.")


class FlagFilterSerializer(serializers.Serializer):
    open = StrictBooleanField(required=False, help_text="true: only unhandled flags (false, or absent: all).")

    def to_internal_value(self, data):
        # Query strings are text: "true"/"false" only.
        value = data.get("open")
        if value is not None and value not in ("true", "false"):
            raise serializers.ValidationError({"open": ["Must be true or false."]})
        return {} if value is None else {"open": value == "true"}


@extend_schema_view(list=extend_schema(parameters=[FlagFilterSerializer]))
class SafetyFlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Open flags first, newest first. ``?open=true`` lists only unhandled flags."""

    serializer_class = SafetyFlagSerializer
    permission_classes = [ActionPermissions]
    permission_denied_message = "Only clinicians (and, read-only, staff) can see safety flags."
    action_permissions = {"list": [VIEW], "retrieve": [VIEW], "handle": [VIEW, CHANGE]}
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        qs = SafetyFlag.objects.select_related("handled_by")
        if self.action == "list":
            filters = FlagFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            if filters.validated_data.get("open"):
                qs = qs.open()
        return qs.order_by(F("handled_at").asc(nulls_first=True), "-created_at", "-id")

    @extend_schema(request=FlagHandleSerializer, responses=SafetyFlagSerializer)
    @action(detail=True, methods=["post"])
    def handle(self, request, pk=None):
        body = FlagHandleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        flag = services.flag_handle(flag=self.get_object(), actor=request.user, note=body.validated_data["note"])
        return Response(SafetyFlagSerializer(flag).data)
