"""Which model version answers patients, how that changed, and who signed versions off.

One ``ServingState`` row (a check constraint keeps it one): the mode, the active version and
the shadow candidate. Every change is one transaction that also appends a ``ServingChange``
(never updated or deleted: the promotion history).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from training.models.runs import ModelVersion


class ServingState(models.Model):
    class Mode(models.TextChoices):
        HOSTED = "hosted", "Hosted (Groq answers; learning mode)"
        LOCAL = "local", "Local (the active version answers)"
        SHADOW = "shadow", "Shadow (Groq answers; the candidate answers in the background)"

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.HOSTED)
    active_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    shadow_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    # Bumped by every change: processes compare it to know their cached state is stale.
    revision = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # Set when serving reverted by itself (failure rate, erasure); the admin shows a banner
    # until staff acknowledge it or change serving.
    alert = models.CharField(max_length=500, blank=True)
    alert_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "serving"
        verbose_name_plural = "serving"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="serving_state_single_row"),
            models.CheckConstraint(
                condition=Q(active_version__isnull=True) | Q(shadow_version__isnull=True)
                | ~Q(active_version=F("shadow_version")),
                name="serving_active_is_not_the_shadow",
            ),
        ]

    def __str__(self) -> str:
        return f"Serving: {self.mode}"


class ServingChange(models.Model):
    """One change of serving, appended in the transaction that made it; never rewritten."""

    class Action(models.TextChoices):
        PROMOTE = "promote", "Promoted"
        ROLLBACK = "rollback", "Rolled back"
        MODE = "mode", "Mode changed"
        SHADOW = "shadow", "Shadow candidate set"
        RETIRE = "retire", "Retired"
        AUTO_REVERT = "auto_revert", "Reverted automatically"
        ERASURE = "erasure", "Left a version trained on erased data"

    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_label = models.CharField(max_length=150)
    from_mode = models.CharField(max_length=16)
    to_mode = models.CharField(max_length=16)
    # Names, not keys: the history reads the same whatever happens to the versions later.
    from_version = models.CharField(max_length=64, blank=True)
    to_version = models.CharField(max_length=64, blank=True)
    shadow_version = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "promotion history entry"
        verbose_name_plural = "promotion history"

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.from_version or self.from_mode} -> {self.to_version or self.to_mode}"


class ModelVersionSignOff(models.Model):
    """A clinician's judgement that a version may answer patients (``SERVING_SIGNOFFS_REQUIRED``)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="sign_offs")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    clinician_label = models.CharField(max_length=150)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["version", "clinician"], name="sign_off_once_per_clinician")]

    def __str__(self) -> str:
        return f"{self.version} signed off by {self.clinician_label}"
