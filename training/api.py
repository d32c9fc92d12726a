"""Staff REST API: training runs (list, detail, create = Train now) and model versions.

Thin: the create call is ``training.services.training_run_now``, the same as the admin button.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from therapist_ai.api_schema import PROBLEM
from therapist_ai.permissions import ActionPermissions
from training import services, versions
from training.models import DatasetSnapshot, ModelVersion, TrainingRun, VersionEvaluation
from training.serving import services as serving
from training.serving.api import (
    EvaluationSerializer,
    NoteSerializer,
    ServingReasonSerializer,
    serving_problems,
    valid,
)

TRAINING_BUSY = OpenApiResponse(
    inline_serializer("TrainingBusy", {"detail": serializers.CharField(),
                                       "active_run": serializers.IntegerField(allow_null=True)}),
    description="A run is already queued or running (`active_run`).")


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = ["id", "content_hash", "example_count", "train_count", "eval_count", "message_count", "created_at"]


class TrainingRunSerializer(serializers.ModelSerializer):
    snapshot = SnapshotSerializer(read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    model_version = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField(read_only=True)
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "status", "trigger", "requested_by", "pending_messages", "attempts", "snapshot",
                  "progress_step", "progress_total", "progress_percent", "eta_seconds", "duration_seconds",
                  "loss_history", "tokens_per_second", "device", "error", "created_at", "started_at",
                  "heartbeat_at", "finished_at", "model_version"]
        read_only_fields = fields

    def get_model_version(self, run) -> int | None:
        version = getattr(run, "model_version", None)
        return version.pk if version else None


class ModelVersionSerializer(serializers.ModelSerializer):
    """What staff compare. Reads no model files: ``files_verified`` is the last explicit check
    (``POST .../verify/``, a promotion, the periodic background check)."""

    snapshot = SnapshotSerializer(read_only=True)
    files_verified = serializers.SerializerMethodField()
    sign_offs = serializers.SerializerMethodField()
    serving_refusal = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "status", "files_verified", "verified_at", "verification_error", "path",
                  "base_model", "hyperparameters", "metrics", "run", "snapshot", "trained_on_erased_data",
                  "sign_offs", "serving_refusal", "created_at", "retired_at"]
        read_only_fields = fields

    def get_files_verified(self, version) -> bool | None:
        """True/False from the last check; None when the files were never checked."""
        return None if version.verified_at is None else not version.verification_error

    def get_sign_offs(self, version) -> list[dict]:
        return [{"clinician": s.clinician_label, "note": s.note, "at": s.created_at.isoformat()}
                for s in version.sign_offs.all()]

    def get_serving_refusal(self, version) -> str:
        """Why this version may not answer patients now ("" when it may)."""
        from training.serving.services import serving_refusal

        return serving_refusal(version)


class ModelVersionDetailSerializer(ModelVersionSerializer):
    lineage = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "lineage"]
        read_only_fields = fields

    def get_lineage(self, version) -> list[dict]:
        """Exactly which conversations and messages the version was trained on."""
        return version.snapshot.examples


class TrainingRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training runs. ``POST`` starts one now (409 while another is queued or running)."""

    queryset = TrainingRun.objects.select_related("snapshot", "requested_by", "model_version")
    serializer_class = TrainingRunSerializer
    permission_classes = [ActionPermissions]
    permission_denied_message = "Only staff can see or start training."
    action_permissions = {"list": ["training.view_trainingrun"], "retrieve": ["training.view_trainingrun"],
                          "create": ["training.view_trainingrun", "training.start_training_run"]}
    lookup_value_regex = r"[0-9]{1,18}"

    @extend_schema(request=None, responses={201: TrainingRunSerializer, 409: TRAINING_BUSY})
    def create(self, request, *args, **kwargs):
        try:
            run = services.training_run_now(requested_by=request.user)
        except services.TrainingAlreadyActive as exc:
            return Response({"detail": str(exc), "active_run": exc.run.pk if exc.run else None},
                            status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Model versions with metrics; the detail lists the exact training data (lineage).

    Actions: ``promote`` (staff), ``sign-off`` (clinicians), ``retire`` (staff), ``verify``
    (staff: check the files against the manifest now), ``evaluation`` (the side-by-side replies).
    """

    queryset = ModelVersion.objects.select_related("snapshot", "run").prefetch_related("sign_offs")
    permission_classes = [ActionPermissions]
    action_permissions = {
        "list": ["training.view_modelversion"], "retrieve": ["training.view_modelversion"],
        "promote": ["training.view_modelversion", "training.promote_modelversion"],
        "retire": ["training.view_modelversion", "training.promote_modelversion"],
        "verify": ["training.view_modelversion", "training.promote_modelversion"],
        "sign_off": ["training.view_modelversion", "training.sign_off_modelversion"],
        "evaluation": ["training.view_modelversion", "training.view_versionevaluation"],
    }
    lookup_value_regex = r"[0-9]{1,18}"

    def get_serializer_class(self):
        return ModelVersionDetailSerializer if self.action == "retrieve" else ModelVersionSerializer

    def _done(self, version: ModelVersion) -> Response:
        version = self.get_queryset().get(pk=version.pk)
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data)

    @extend_schema(request=ServingReasonSerializer, responses={200: ModelVersionSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """This version answers patients from the next message on (mode ``local``)."""
        version, data = self.get_object(), valid(ServingReasonSerializer, request)
        with serving_problems():
            serving.model_version_promote(version=version, actor=request.user, reason=data["reason"])
        return self._done(version)

    @extend_schema(request=NoteSerializer, responses={200: ModelVersionSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"], url_path="sign-off")
    def sign_off(self, request, pk=None):
        """A clinician signs the version off as fit to answer patients."""
        version, data = self.get_object(), valid(NoteSerializer, request)
        with serving_problems():
            serving.model_version_sign_off(version=version, clinician=request.user, note=data["note"])
        return self._done(version)

    @extend_schema(request=ServingReasonSerializer, responses={200: ModelVersionSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """Never serves again; if it is active, serving goes back to the previous version."""
        version, data = self.get_object(), valid(ServingReasonSerializer, request)
        with serving_problems():
            serving.model_version_retire(version=version, actor=request.user, reason=data["reason"])
        return self._done(version)

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Check every file against the manifest now (a failing version becomes ``failed``)."""
        version = self.get_object()
        versions.model_version_verify(version=version)
        return self._done(version)

    @extend_schema(responses={200: EvaluationSerializer, 404: PROBLEM})
    @action(detail=True, methods=["get"])
    def evaluation(self, request, pk=None):
        """The evaluation prompts answered by the candidate, the active version and Groq, side by side."""
        version = self.get_object()
        evaluation = VersionEvaluation.objects.filter(version=version).prefetch_related("replies").first()
        if evaluation is None:
            return Response({"detail": "This version has not been evaluated yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(EvaluationSerializer(evaluation).data)
