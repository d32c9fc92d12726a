"""``/api/v1/audit-events/``: the audit log, read-only."""

from rest_framework.routers import SimpleRouter

from therapist_ai.api import AuditEventViewSet

router = SimpleRouter()
router.register("audit-events", AuditEventViewSet, basename="audit-event")
urlpatterns = router.urls
