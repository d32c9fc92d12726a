"""Evidence before a promotion: a fixed prompt set answered by the candidate, the active version
and the hosted model (``VersionEvaluation``/``EvalReply``), and real shadow pairs that clinicians
rate blind (``ShadowReply``/``ShadowRating``)."""

from django.conf import settings
from django.db import models

from training.models.runs import ModelVersion


class EvalPrompt(models.Model):
    """A patient message every new version answers; clinicians edit the set in the admin."""

    text = models.TextField()
    note = models.CharField(max_length=200, blank=True, help_text="What a good reply does here.")
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "evaluation prompt"

    def __str__(self) -> str:
        return self.text[:60]


class VersionEvaluation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="evaluation")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Who the candidate was compared with (names: the comparison stays readable later).
    active_version = models.CharField(max_length=64, blank=True)
    hosted_model = models.CharField(max_length=200, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="per responder: replies, errors, mean length, "
                                                                   "mean latency, unsafe replies")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Evaluation of {self.version} ({self.status})"


class EvalReply(models.Model):
    class Responder(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active version"
        HOSTED = "hosted", "Hosted (Groq)"

    evaluation = models.ForeignKey(VersionEvaluation, on_delete=models.CASCADE, related_name="replies")
    prompt = models.ForeignKey(EvalPrompt, null=True, on_delete=models.SET_NULL, related_name="+")
    prompt_text = models.TextField()
    responder = models.CharField(max_length=16, choices=Responder.choices)
    model_name = models.CharField(max_length=200, blank=True)
    content = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    output_safe = models.BooleanField(default=True)
    output_categories = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["prompt_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_responder_display()} reply to {self.prompt_text[:40]!r}"

    @property
    def length(self) -> int:
        return len(self.content)


class ShadowReply(models.Model):
    """What the shadow candidate answered to a real patient message. Never shown to the patient."""

    patient_message = models.ForeignKey("conversations.Message", on_delete=models.CASCADE, related_name="+")
    hosted_reply = models.ForeignKey("conversations.Message", null=True, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="shadow_replies")
    content = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    output_safe = models.BooleanField(default=True)
    output_categories = models.JSONField(default=list, blank=True)
    # Which side a rater sees first (A): chosen at random when the pair is stored.
    candidate_first = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "shadow pair"
        constraints = [models.UniqueConstraint(fields=["patient_message", "version"], name="shadow_reply_once")]
        permissions = [("rate_shadowreply", "Can rate shadow pairs (blind)")]

    def __str__(self) -> str:
        return f"Shadow reply of {self.version} to message {self.patient_message_id}"


class ShadowRating(models.Model):
    class Choice(models.TextChoices):
        A = "A", "A is better"
        B = "B", "B is better"
        SAME = "same", "About the same"

    shadow_reply = models.ForeignKey(ShadowReply, on_delete=models.CASCADE, related_name="ratings")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    preferred = models.CharField(max_length=16, help_text="candidate, hosted or same (revealed after rating)")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shadow_reply", "clinician"], name="shadow_rated_once")]

    def __str__(self) -> str:
        return f"Rating of shadow pair {self.shadow_reply_id}: {self.preferred}"
