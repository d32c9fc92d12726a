from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_delete, post_migrate, post_save


def screening_model_check(app_configs=None, **kwargs) -> list:
    """At start-up (``manage.py check``, runserver, migrate, every command): the screening
    model's files match their manifest. A warning, not an error: a refused model leaves the
    screen on the rules (at least concern), and commands such as ``safety_train_screen`` (which
    writes a new one) and ``migrate`` must still run."""
    from conversations.safety.screen_model import ArtefactError, artefact_verify, configured

    path, _runtime = configured()
    try:
        artefact_verify(path, base=False)
    except ArtefactError as exc:
        return [checks.Warning(f"The safety screening model will be REFUSED: {exc}",
                               hint="Reinstall the shipped version or point SAFETY_SCREEN_MODEL_DIR at a verified "
                                    "one; until then the screen uses the rules only and answers at least concern.",
                               id="safety.W001")]
    return []


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
        from conversations.safety.selectors import screening_model_panel
        from therapist_ai.admin_panels import admin_index_panel_register

        admin_index_panel_register(name="safety-screen", template="admin/safety/_screening_model_panel.html",
                                   context=screening_model_panel)

        # Any write in this process (admin, shell, migration) refreshes the in-process caches
        # at once; other processes notice within RULE_CHECK_SECONDS.
        checks.register(screening_model_check, checks.Tags.security, deploy=False)
        post_migrate.connect(_seed_after_migrate, sender=self, dispatch_uid="safety-seed")
        for model in (ScreeningRule, SafetyTemplate, CrisisResource):
            post_save.connect(_safety_content_changed, sender=model, dispatch_uid=f"safety-{model.__name__}-save")
            post_delete.connect(_safety_content_changed, sender=model, dispatch_uid=f"safety-{model.__name__}-del")
