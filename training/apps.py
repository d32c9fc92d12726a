import os
import sys

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"
    verbose_name = "Training"

    def ready(self):
        from conversations.providers.selection import serving_source_register
        from therapist_ai.admin_panels import admin_index_panel_register
        from training import receivers, selectors
        from training.serving.provider import serving_provider
        from training.serving.state import serving_panel

        post_migrate.connect(receivers.schedules_ensure, sender=self, dispatch_uid="training.schedules")
        admin_index_panel_register(name="training-progress", template="admin/training/_progress_panel.html",
                                   context=selectors.training_progress_panel)
        admin_index_panel_register(name="serving", template="admin/training/_serving_panel.html",
                                   context=serving_panel)
        serving_source_register(serving_provider)
        if os.environ.get("Q_CLUSTER_NAME") == "training" and "qcluster" in sys.argv:
            # The training cluster forks a fresh worker per run (recycle=1): import the heavy
            # libraries once in the parent so each run starts in well under a second; and
            # give way to the web process on a shared machine (chat latency first).
            from django.conf import settings

            from training import pipeline

            os.nice(settings.TRAIN_WORKER_NICE)
            pipeline.preload()
