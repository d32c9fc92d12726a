"""Patients, their conversations and every message in them.

Nothing here is ever overwritten by curation: redactions live in ``clinicians``
beside the original text, safety flags in ``conversations.safety``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class PatientProfile(models.Model):
    """What a patient agreed to at sign-up, and the identifiers redaction looks for."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_profile"
    )
    phone = models.CharField(max_length=40, blank=True)
    # Empty for a patient made outside the sign-up page (the admin, a script): they have not
    # seen the terms page, and their conversations are not used for training until they consent.
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    training_consent = models.BooleanField(
        default=False, help_text="May this patient's conversations be used to improve the model?"
    )
    training_consent_changed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Granted to the Patients group (therapist_ai.roles); the API checks it.
        permissions = [("manage_own_data", "Can see, export and erase their own data and set their consent")]

    def __str__(self) -> str:
        return f"Patient profile of {self.user}"


class ConversationQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(patient=user)


class Conversation(models.Model):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["patient", "-updated_at"])]
        # Granted to the Patients group; which conversations is the owner's business (owned_by).
        permissions = [("chat_as_patient", "Can chat with the AI as a patient (their own conversations)")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        PATIENT = "patient", "Patient"
        ASSISTANT = "assistant", "Assistant"
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        PENDING = "pending", "Being answered again"  # a retry claimed it (``claimed_at``)

    class SafetyLevel(models.TextChoices):
        NONE = "none", "None"
        CONCERN = "concern", "Concern"
        CRISIS = "crisis", "Crisis"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    failure_reason = models.CharField(max_length=500, blank=True)
    # The patient message an assistant reply answers (retries answer the same one).
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # Assistant replies: who produced them and at what cost.
    provider = models.CharField(max_length=40, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Set when the provider asked (a local model version) failed and another answered instead.
    fallback_reason = models.CharField(max_length=500, blank=True)
    # Patient messages: the input screen's verdict; assistant replies: the output screen's.
    safety_level = models.CharField(
        max_length=16, choices=SafetyLevel.choices, default=SafetyLevel.NONE
    )
    safety_categories = models.JSONField(default=list, blank=True)
    # A retried API post with the same Idempotency-Key returns the first result.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    # When a retry claimed this failed reply (status pending); a claim older than
    # ``RETRY_CLAIM_SECONDS`` is abandoned (the process died) and may be claimed again.
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_unique_idempotency_key",
            ),
            # One reply per patient message: retries update it in place, never add a second.
            models.UniqueConstraint(
                fields=["reply_to"],
                condition=Q(role="assistant", reply_to__isnull=False),
                name="message_one_reply_per_patient_message",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk} in conversation {self.conversation_id}"


class ErasureRecord(models.Model):
    """What an erasure removed, without saying who it was or what they wrote."""

    subject_hash = models.CharField(max_length=64, db_index=True)
    # Which ERASURE_KEYS key made subject_hash (a fingerprint of it; "secret-key": the legacy key).
    key_id = models.CharField(max_length=16, blank=True, default="secret-key")
    conversation_count = models.PositiveIntegerField()
    message_count = models.PositiveIntegerField()
    conversation_ids = models.JSONField(default=list)
    message_ids = models.JSONField(default=list)
    queued_tasks_removed = models.PositiveIntegerField(default=0)
    requested_by_self = models.BooleanField(default=True)
    erased_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "clinicians_erasurerecord"  # created by curation before data rights moved here

    def __str__(self) -> str:
        return f"Erasure {self.pk} ({self.message_count} messages)"
