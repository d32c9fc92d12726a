"""Training runs, the frozen dataset each one used, and the model versions they produce.

Import-light on purpose: the web process imports this module, so no torch/transformers here.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class DatasetSnapshot(models.Model):
    """Exactly what a run trained on, frozen at the moment the run started.

    ``examples`` holds, per conversation, the message ids and the redaction hash of the
    text that went into the set (never the text itself), and whether it was held out for
    evaluation. ``content_hash`` covers the rendered examples, so two snapshots with the
    same hash trained on identical text.
    """

    content_hash = models.CharField(max_length=64, db_index=True)
    example_count = models.PositiveIntegerField()
    train_count = models.PositiveIntegerField()
    eval_count = models.PositiveIntegerField()
    message_count = models.PositiveIntegerField()
    examples = models.JSONField(
        default=list,
        help_text="[{conversation_id, message_ids, redaction_hash, split: train|eval}, ...]",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Dataset {self.content_hash[:12]} ({self.example_count} conversations)"

    @property
    def conversation_ids(self) -> list[int]:
        return [e["conversation_id"] for e in self.examples]

    @property
    def message_ids(self) -> set[int]:
        return {mid for e in self.examples for mid in e["message_ids"]}


class TrainingRunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=TrainingRun.ACTIVE_STATUSES)


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        AUTO = "auto", "Automatic (threshold)"
        MANUAL = "manual", "Manual (Train now)"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # Constant column: with the partial unique constraint below, the database admits at most
    # one queued-or-running run, however many processes try to create one at once.
    slot = models.CharField(max_length=8, default="training", editable=False)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pending_messages = models.PositiveIntegerField(
        default=0, help_text="Approved training messages since the previous run, when this run was requested."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    loss_history = models.JSONField(default=list, blank=True, help_text="[{step, loss}, ...]")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    device = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status__in=["queued", "running"]),
                name="training_run_one_active",
            )
        ]
        permissions = [("start_training_run", "Can start a training run (Train now)")]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    @property
    def eta_seconds(self) -> float | None:
        elapsed = self.duration_seconds
        if self.status != self.Status.RUNNING or not elapsed or not self.progress_step or not self.progress_total:
            return None
        remaining = max(0, self.progress_total - self.progress_step)
        return elapsed / self.progress_step * remaining

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_step / self.progress_total))


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=64, unique=True, help_text="model_YYYYMMDD_HHMMSS")
    path = models.CharField(max_length=500)
    base_model = models.CharField(max_length=500)
    hyperparameters = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="eval loss/perplexity of the adapter and of the base model")
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY, db_index=True)
    run = models.OneToOneField(TrainingRun, on_delete=models.PROTECT, related_name="model_version")
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="model_versions")
    trained_on_erased_data = models.BooleanField(default=False)
    erasure_record_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last explicit check of the files against the manifest (an action or a background task;
    # never a page view): when, and what it found.
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_error = models.CharField(max_length=500, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("promote_modelversion", "Can promote, shadow, retire and roll back model versions"),
            ("sign_off_modelversion", "Can sign off a model version as fit to answer patients"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_servable(self) -> bool:
        """Ready, not trained on erased data. (Sign-offs and file checks are the service's.)"""
        return self.status == self.Status.READY and not self.trained_on_erased_data
