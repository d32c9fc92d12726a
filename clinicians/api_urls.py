"""``/api/v1/transcripts/`` and ``/api/v1/redactions/``: curation."""

from rest_framework.routers import SimpleRouter

from clinicians.api import RedactionViewSet, TranscriptViewSet

router = SimpleRouter()
router.register("transcripts", TranscriptViewSet, basename="transcript")
router.register("redactions", RedactionViewSet, basename="redaction")
urlpatterns = router.urls
