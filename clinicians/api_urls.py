"""``/api/v1/transcripts/``, ``/api/v1/redactions/`` and ``/api/v1/deny-list/``: curation."""

from rest_framework.routers import SimpleRouter

from clinicians.api import DenyListEntryViewSet, RedactionViewSet, TranscriptViewSet

router = SimpleRouter()
router.register("transcripts", TranscriptViewSet, basename="transcript")
router.register("redactions", RedactionViewSet, basename="redaction")
router.register("deny-list", DenyListEntryViewSet, basename="deny-list-entry")
urlpatterns = router.urls
