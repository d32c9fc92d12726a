"""``/api/v1/`` routes for accounts: tokens and a patient's own data rights."""

from django.urls import path

from conversations.accounts.api import MeConsentView, MeExportView, MeView, TokenObtainView

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("me/consent/", MeConsentView.as_view(), name="me-consent"),
    path("me/export/", MeExportView.as_view(), name="me-export"),
]
