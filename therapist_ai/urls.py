"""The project's URLs. Each app owns its routes; they are included by name (a string), so the
project layer never imports the apps above it."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from therapist_ai import health

api_v1 = [
    path("", include("therapist_ai.api_urls")),
    path("", include("conversations.accounts.api_urls")),
    path("", include("conversations.api_urls")),
    path("", include("conversations.safety.api_urls")),
    path("", include("clinicians.api_urls")),
    path("", include("training.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script from a URL: no inline script, so CSP holds.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include((api_v1, "api"))),
    path("", include("conversations.accounts.urls")),
    path("", include("conversations.urls")),
]

# JSON for /api/ (the documented error shape), the site's pages elsewhere.
handler400 = "therapist_ai.errors.bad_request"
handler404 = "therapist_ai.errors.not_found"
handler500 = "therapist_ai.errors.server_error"
