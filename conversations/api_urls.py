"""``/api/v1/conversations/``: a patient's conversations and chat turns."""

from rest_framework.routers import SimpleRouter

from conversations.api import ConversationViewSet

router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="conversation")
urlpatterns = router.urls
