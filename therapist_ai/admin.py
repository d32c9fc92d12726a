"""Admin pieces shared by every app."""

from django.contrib import admin
from django.contrib.admin.filters import DateFieldListFilter

from therapist_ai.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits from the admin (audit trail, versions, runs): view only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StaffReadOnlyAdmin(ReadOnlyAdmin):
    """Read-only records that only staff read (the audit log, erasure records): the view
    permission, which only the Staff group holds (``therapist_ai.roles``), decides, as in the API."""


@admin.register(AuditEvent)
class AuditEventAdmin(StaffReadOnlyAdmin):
    list_display = ("created_at", "who", "action", "target_type", "target_id", "before", "after")
    list_filter = ("action", "target_type", ("created_at", DateFieldListFilter))
    search_fields = ("action", "target_type", "=target_id", "actor_label")
    list_select_related = ("actor",)
    show_full_result_count = False

    @admin.display(description="Actor", ordering="actor_label")
    def who(self, obj):
        return obj.actor.get_username() if obj.actor else obj.actor_label
