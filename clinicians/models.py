"""Curation state kept beside the conversations, never inside them.

A ``Review`` per conversation says whether it is approved for training and up to which
message (``approved_through_message_id``: the watermark; messages after it are the new,
pending part). ``ApprovalRange`` rows record when each part was approved, so "approved
since the last training run" is exact. Redactions are spans over the original text, which
is never overwritten. ``AuditEvent`` rows never contain message text.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from conversations.models import Conversation, Message


class Transcript(Conversation):
    """A conversation as clinicians see it in the review queue (admin proxy)."""

    class Meta:
        proxy = True
        verbose_name = "transcript"
        verbose_name_plural = "review queue"


class Review(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Messages with id <= this are approved (while status is approved); later ones are pending.
    approved_through_message_id = models.BigIntegerField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why it was rejected.")
    override_reason = models.TextField(
        blank=True, help_text="Why it was approved although the final scan still found something."
    )
    include_despite_crisis = models.BooleanField(default=False)
    crisis_inclusion_reason = models.TextField(blank=True)
    # Messages with id <= this were already scanned for redaction suggestions.
    suggested_through_message_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(approved_through_message_id__isnull=False),
                name="review_approved_has_watermark",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reason=""),
                name="review_rejected_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Review of conversation {self.conversation_id}: {self.status}"


class ApprovalRange(models.Model):
    """Messages ``after_message_id < id <= through_message_id`` were approved at ``approved_at``."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="ranges")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    after_message_id = models.BigIntegerField()
    through_message_id = models.BigIntegerField()
    approved_at = models.DateTimeField(db_index=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(through_message_id__gt=F("after_message_id")), name="approval_range_not_empty"
            )
        ]

    def __str__(self) -> str:
        return f"Messages {self.after_message_id + 1}-{self.through_message_id} approved at {self.approved_at}"


class Redaction(models.Model):
    class Label(models.TextChoices):
        NAME = "NAME", "Name"
        EMAIL = "EMAIL", "Email"
        PHONE = "PHONE", "Phone"
        ADDRESS = "ADDRESS", "Address"
        DATE = "DATE", "Date"
        ID = "ID", "Identifier"
        OTHER = "OTHER", "Other"

    class Source(models.TextChoices):
        SUGGESTED = "suggested", "Suggested"
        MANUAL = "manual", "Manual"

    class State(models.TextChoices):
        SUGGESTED = "suggested", "Suggested"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="redactions")
    # Denormalised so the export can stream redactions in conversation order.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    label = models.CharField(max_length=16, choices=Label.choices)
    replacement = models.CharField(max_length=40)
    source = models.CharField(max_length=16, choices=Source.choices)
    state = models.CharField(max_length=16, choices=State.choices)
    # Which recognizer suggested it (EMAIL_ADDRESS, PATIENT_NAME, DENY_LIST, ...); no text.
    detector = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message_id", "start"]
        indexes = [models.Index(fields=["conversation", "message", "start"])]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="redaction_span_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.start}-{self.end} in message {self.message_id} ({self.state})"


class MessageExclusion(models.Model):
    """A single message a clinician left out of training (the rest of the transcript may go in)."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="exclusion")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField(blank=True)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    excluded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Message {self.message_id} excluded"


class DenyListEntry(models.Model):
    """A term clinicians always want suggested for redaction (a clinic, a town, a nickname)."""

    term = models.CharField(max_length=200, unique=True)
    label = models.CharField(max_length=16, choices=Redaction.Label.choices, default=Redaction.Label.OTHER)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "deny-list term"
        verbose_name_plural = "deny list"
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term
