"""Patient profiles in the admin: consent state, read-only (patients change it themselves).

Conversations and messages are shown to clinicians by the curation app (``clinicians.admin``).
"""

from django.contrib import admin

from conversations.models import PatientProfile


@admin.register(PatientProfile)
class PatientProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "training_consent", "training_consent_changed_at", "terms_accepted_at")
    list_filter = ("training_consent",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "phone", "terms_accepted_at", "training_consent", "training_consent_changed_at",
                       "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
