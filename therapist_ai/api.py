"""REST API for the audit log (``/api/v1/audit-events/``): staff read it, as in the admin
(``therapist_ai.view_auditevent``). Read-only: nobody edits the audit trail."""

from __future__ import annotations

from rest_framework import mixins, serializers, viewsets

from therapist_ai.models import AuditEvent
from therapist_ai.permissions import ActionPermissions


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="Username, or the label kept when the account is gone.")

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor", "action", "target_type", "target_id", "before", "after", "detail"]
        read_only_fields = fields

    def get_actor(self, event) -> str:
        return event.actor.get_username() if event.actor else event.actor_label


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Who did what to which object, newest first (never message text)."""

    queryset = AuditEvent.objects.select_related("actor")
    serializer_class = AuditEventSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"list": ["therapist_ai.view_auditevent"], "retrieve": ["therapist_ai.view_auditevent"]}
    lookup_value_regex = r"[0-9]{1,18}"
