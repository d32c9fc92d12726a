"""Patient profiles (consent state, read-only: patients change it themselves) and erasure records.

Conversations and messages are shown to clinicians by the curation app (``clinicians.admin``).
"""

from django.contrib import admin

from conversations.models import ErasureRecord, PatientProfile
from therapist_ai.admin import ReadOnlyAdmin, StaffReadOnlyAdmin


@admin.register(PatientProfile)
class PatientProfileAdmin(ReadOnlyAdmin):
    list_display = ("user", "training_consent", "training_consent_changed_at", "terms_accepted_at")
    list_filter = ("training_consent",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "phone", "terms_accepted_at", "training_consent", "training_consent_changed_at",
                       "created_at")


@admin.register(ErasureRecord)
class ErasureRecordAdmin(StaffReadOnlyAdmin):
    list_display = ("erased_at", "conversation_count", "message_count", "queued_tasks_removed", "requested_by_self")
    exclude = ("message_ids",)
