from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from clinicians.api import MeConsentView, MeExportView, MeView, RedactionViewSet, TranscriptViewSet
from conversations.api import ConversationViewSet, TokenObtainView
from conversations.safety.api import SafetyFlagViewSet
from therapist_ai import health
from training.api import ModelVersionViewSet, TrainingRunViewSet

# Each app registers its viewsets on this router (training: model-versions, training-runs).
api_router = SimpleRouter()
api_router.register("conversations", ConversationViewSet, basename="conversation")
api_router.register("training-runs", TrainingRunViewSet, basename="training-run")
api_router.register("model-versions", ModelVersionViewSet, basename="model-version")
api_router.register("transcripts", TranscriptViewSet, basename="transcript")
api_router.register("redactions", RedactionViewSet, basename="redaction")
api_router.register("safety-flags", SafetyFlagViewSet, basename="safety-flag")

api_v1 = [
    path("auth/token/", TokenObtainView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("me/consent/", MeConsentView.as_view(), name="me-consent"),
    path("me/export/", MeExportView.as_view(), name="me-export"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script from a URL: no inline script, so CSP holds.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *api_router.urls,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include((api_v1, "api"))),
    path("accounts/", include("conversations.account_urls")),
    path("account/", include("clinicians.urls")),
    path("", include("conversations.urls")),
]
