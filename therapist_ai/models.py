from django.db import models


class WorkerHeartbeat(models.Model):
    """When a django-q2 worker last proved it is alive (one row per cluster)."""

    cluster = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()
    source = models.CharField(max_length=20, help_text="spawn or schedule")

    def __str__(self) -> str:
        return f"{self.cluster} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
