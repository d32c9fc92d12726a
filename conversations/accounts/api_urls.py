"""``/api/v1/`` routes for accounts: tokens, a patient's own data rights, erasure records."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from conversations.accounts.api import (
    ErasureRecordViewSet,
    MeConsentView,
    MeExportView,
    MeView,
    TokenObtainView,
)

router = SimpleRouter()
router.register("erasure-records", ErasureRecordViewSet, basename="erasure-record")
urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("me/consent/", MeConsentView.as_view(), name="me-consent"),
    path("me/export/", MeExportView.as_view(), name="me-export"),
    *router.urls,
]
