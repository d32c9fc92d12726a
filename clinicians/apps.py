from django.apps import AppConfig


class CliniciansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "clinicians"
