"""Staff REST API: training runs (list, detail, create = Train now) and model versions.

Thin: the create call is ``training.services.training_run_now``, the same as the admin button.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from therapist_ai.roles import is_staff_member
from training import services
from training.models import DatasetSnapshot, ModelVersion, TrainingRun


class IsTrainingStaff(BasePermission):
    """Staff members with the model's view permission; creating a run needs start_training_run."""

    message = "Only staff can see or start training."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and is_staff_member(user)):
            return False
        model = view.queryset.model
        if view.action == "create":
            return user.has_perm("training.start_training_run")
        return user.has_perm(f"training.view_{model._meta.model_name}")


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = ["id", "content_hash", "example_count", "train_count", "eval_count", "message_count", "created_at"]


class TrainingRunSerializer(serializers.ModelSerializer):
    snapshot = SnapshotSerializer(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
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
    snapshot = SnapshotSerializer(read_only=True)
    files_verified = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "status", "files_verified", "path", "base_model", "hyperparameters", "metrics",
                  "run", "snapshot", "trained_on_erased_data", "created_at"]
        read_only_fields = fields

    def get_files_verified(self, version) -> bool:
        # Verifying may turn a tampered "ready" version into "failed" before status is shown.
        return services.model_version_verify(version=version)[0]

    def to_representation(self, instance):
        verified = self.get_files_verified(instance)
        data = super().to_representation(instance)
        data["files_verified"], data["status"] = verified, instance.status
        return data


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
    permission_classes = [IsTrainingStaff]

    @extend_schema(request=None, responses={201: TrainingRunSerializer, 409: OpenApiResponse(description="busy")})
    def create(self, request, *args, **kwargs):
        try:
            run = services.training_run_now(requested_by=request.user)
        except services.TrainingAlreadyActive as exc:
            return Response({"detail": str(exc), "active_run": exc.run.pk if exc.run else None},
                            status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Model versions with metrics; the detail lists the exact training data (lineage)."""

    queryset = ModelVersion.objects.select_related("snapshot", "run")
    permission_classes = [IsTrainingStaff]

    def get_serializer_class(self):
        return ModelVersionDetailSerializer if self.action == "retrieve" else ModelVersionSerializer
