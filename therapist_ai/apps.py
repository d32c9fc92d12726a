from django.apps import AppConfig


class TherapistAiConfig(AppConfig):
    """Project-level pieces that need models: the worker heartbeat behind ``/readyz``."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "therapist_ai"
    verbose_name = "Operations"

    def ready(self):
        from django_q.signals import post_spawn

        from therapist_ai.health import heartbeat_on_worker_spawn

        post_spawn.connect(heartbeat_on_worker_spawn, dispatch_uid="therapist_ai_worker_heartbeat")
