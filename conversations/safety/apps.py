from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


def _safety_content_changed(sender, **kwargs) -> None:
    from conversations.safety.rules import invalidate_rules
    from conversations.safety.services import content_invalidate

    invalidate_rules()
    content_invalidate()


def _seed_after_migrate(sender, apps=None, **kwargs) -> None:
    # Also after a flush (tests): the database never screens with an empty rule table.
    from django.apps import apps as global_apps

    from conversations.safety.seed import defaults_seed

    try:
        defaults_seed(apps or global_apps)
    except LookupError:  # migrated backwards: the tables are not there
        pass


class SafetyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations.safety"
    label = "safety"
    verbose_name = "Clinical safety"

    def ready(self) -> None:
        from conversations.safety.models import CrisisResource, SafetyTemplate, ScreeningRule

        # Any write in this process (admin, shell, migration) refreshes the in-process caches
        # at once; other processes notice within RULE_CHECK_SECONDS.
        post_migrate.connect(_seed_after_migrate, sender=self, dispatch_uid="safety-seed")
        for model in (ScreeningRule, SafetyTemplate, CrisisResource):
            post_save.connect(_safety_content_changed, sender=model, dispatch_uid=f"safety-{model.__name__}-save")
            post_delete.connect(_safety_content_changed, sender=model, dispatch_uid=f"safety-{model.__name__}-del")
