"""``/api/v1/``: training runs, model versions (promote, sign-off, retire, verify, evaluation),
serving (state, rollback, history) and shadow pairs."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from training.api import ModelVersionViewSet, TrainingRunViewSet
from training.serving.api import ServingHistoryViewSet, ServingRollbackView, ServingView, ShadowPairViewSet

router = SimpleRouter()
router.register("training-runs", TrainingRunViewSet, basename="training-run")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("serving/history", ServingHistoryViewSet, basename="serving-history")
router.register("shadow-pairs", ShadowPairViewSet, basename="shadow-pair")
urlpatterns = [
    path("serving/", ServingView.as_view(), name="serving"),
    path("serving/rollback/", ServingRollbackView.as_view(), name="serving-rollback"),
    *router.urls,
]
