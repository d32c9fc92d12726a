from django.conf import settings
from django.db import models


class WorkerHeartbeat(models.Model):
    """When a django-q2 worker last proved it is alive (one row per cluster)."""

    cluster = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()
    source = models.CharField(max_length=20, help_text="spawn or schedule")

    def __str__(self) -> str:
        return f"{self.cluster} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """Who did what to which object, when. Never message text (a test scans every row)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept when the actor account is gone; "erased patient" after an erasure.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60, blank=True)
    before = models.CharField(max_length=60, blank=True)
    after = models.CharField(max_length=60, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        db_table = "clinicians_auditevent"  # created by curation before the audit log moved here

    def __str__(self) -> str:
        return f"{self.action} {self.target_type} {self.target_id}"


class TaskOutbox(models.Model):
    """A background task the broker could not take (Redis down): queued again by the outbox
    flush once the broker is back, so no job is lost (``therapist_ai.queueing``)."""

    func = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    options = models.JSONField(default=dict, help_text="cluster, task_name")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "queued task waiting for the broker"

    def __str__(self) -> str:
        return f"{self.func}{tuple(self.args)}"
