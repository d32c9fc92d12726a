from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConversationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations"
    verbose_name = "Patient conversations"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed

        from conversations.accounts import erasure_keys  # noqa: F401  (registers its deploy check)
        from conversations.accounts.receivers import profile_on_patients_group
        from therapist_ai.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="sync_role_permissions")
        m2m_changed.connect(profile_on_patients_group, sender=get_user_model().groups.through,
                            dispatch_uid="conversations.profile_on_patients_group")
