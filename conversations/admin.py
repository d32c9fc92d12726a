"""Patient profiles in the admin: consent state, read-only (patients change it themselves).

Conversations and messages are shown to clinicians by the curation app (``clinicians.admin``).
"""

from django.contrib import admin

from conversations.models import PatientProfile
from therapist_ai.admin import ReadOnlyAdmin


@admin.register(PatientProfile)
class PatientProfileAdmin(ReadOnlyAdmin):
    list_display = ("user", "training_consent", "training_consent_changed_at", "terms_accepted_at")
    list_filter = ("training_consent",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "phone", "terms_accepted_at", "training_consent", "training_consent_changed_at",
                       "created_at")
