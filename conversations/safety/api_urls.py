"""``/api/v1/safety-flags/``: conversations the safety screen flagged, for clinicians."""

from rest_framework.routers import SimpleRouter

from conversations.safety.api import SafetyFlagViewSet

router = SimpleRouter()
router.register("safety-flags", SafetyFlagViewSet, basename="safety-flag")
urlpatterns = router.urls
