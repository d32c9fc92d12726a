"""REST API for curation (clinicians; staff read-only) and for patients' own data rights.

Thin: validate, call the same service the admin calls, present the result.
Errors: 400 bad input (spans, labels), 404 unknown or erased, 409 state conflicts
(already approved, already rejected), 422 final scan refused the approval.
"""

from __future__ import annotations

import datetime

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from clinicians import selectors, services
from clinicians.models import Redaction, Review
from conversations.models import Message
from therapist_ai.roles import is_clinician, is_staff_member

# --- permissions ------------------------------------------------------------------------


class IsCurator(BasePermission):
    """Clinicians review; staff may read the queue and transcripts."""

    message = "Only clinicians (and, read-only, staff) can use the review API."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return is_clinician(request.user) or is_staff_member(request.user)
        return is_clinician(request.user)


def _problem(exc: services.CurationError) -> Response:
    if isinstance(exc, services.FinalScanFailed):
        findings = [{"message_id": f.message_id, "label": f.label, "detector": f.detector,
                     "start": f.start, "end": f.end, "text": f.text} for f in exc.findings]
        return Response({"detail": str(exc), "findings": findings}, status=422)
    if isinstance(exc, services.ConversationGone):
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, services.RedactionError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


# --- serializers ------------------------------------------------------------------------


class QueueItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    patient = serializers.CharField(source="patient.username")
    status = serializers.CharField(source="queue_status")
    pending_messages = serializers.IntegerField()
    message_count = serializers.IntegerField()
    flag = serializers.SerializerMethodField()
    training_consent = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_flag(self, obj) -> str:
        return {2: "crisis", 1: "concern"}.get(obj.flag_rank, "none")

    def get_training_consent(self, obj) -> bool:
        profile = getattr(obj.patient, "patient_profile", None)
        return bool(profile and profile.training_consent)


class RedactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Redaction
        fields = ["id", "message", "start", "end", "label", "replacement", "source", "state", "detector"]


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", default=None)

    class Meta:
        model = Review
        fields = ["status", "approved_through_message_id", "reviewer", "reviewed_at", "reason",
                  "override_reason", "include_despite_crisis", "crisis_inclusion_reason"]


def _message_json(view: selectors.MessageView) -> dict:
    m = view.message
    return {
        "id": m.pk, "role": m.role, "created_at": m.created_at, "status": m.status,
        "safety_level": m.safety_level, "content": m.content, "redacted": view.redacted,
        "excluded": view.excluded, "approved": view.approved,
        "redactions": RedactionSerializer(view.redactions, many=True).data,
    }


class ApproveSerializer(serializers.Serializer):
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ExcludeSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class CrisisSerializer(serializers.Serializer):
    include = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class SpanSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    label = serializers.ChoiceField(choices=Redaction.Label.choices)
    replacement = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)


def _valid(serializer_class, request) -> dict:
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


# --- clinicians -------------------------------------------------------------------------


def _since(value: str | None):
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime.datetime.combine(day, datetime.time.min)
    if parsed is None:
        raise ValidationError({"since": "Use an ISO date or date-time."})
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


class TranscriptViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The review queue and each transcript with its redaction suggestions."""

    permission_classes = [IsCurator]
    serializer_class = QueueItemSerializer

    @extend_schema(parameters=[
        OpenApiParameter("status", str, enum=["pending", "approved", "rejected"]),
        OpenApiParameter("consent", str, enum=["yes", "no"]),
        OpenApiParameter("flag", str, enum=["crisis", "concern", "none"]),
        OpenApiParameter("since", str, description="ISO date/time: updated since"),
        OpenApiParameter("search", str),
    ])
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = selectors.queue_page([row.pk for row in page])
        return self.get_paginated_response(QueueItemSerializer(rows, many=True).data)

    def get_queryset(self):
        p = self.request.query_params
        return selectors.queue_filter(
            selectors.queue_ordered(), status=p.get("status", ""), consent=p.get("consent", ""),
            flag=p.get("flag", ""), since=_since(p.get("since")), search=p.get("search", ""),
        )

    def _conversation(self, pk):
        return get_object_or_404(selectors.transcript_queue(), pk=pk)

    def retrieve(self, request, pk=None):
        row = self._conversation(pk)  # a read writes nothing: suggestions come from ``suggest`` or the worker
        review = Review.objects.filter(conversation=row).select_related("reviewer").first()
        return Response({
            **QueueItemSerializer(row).data,
            "review": ReviewSerializer(review).data if review else None,
            "messages": [_message_json(v) for v in selectors.transcript_messages(row)],
        })

    @extend_schema(request=None, responses=inline_serializer("SuggestResult", {"added": serializers.IntegerField()}))
    @action(detail=True, methods=["post"])
    def suggest(self, request, pk=None):
        """Scan the messages not scanned yet for identifying details (the worker also does it)."""
        try:
            added = services.redactions_suggest(conversation=self._conversation(pk), actor=request.user)
        except services.CurationError as exc:
            return _problem(exc)
        return Response({"added": added})

    def _act(self, fn, **kwargs) -> Response:
        try:
            result = fn(**kwargs)
        except services.CurationError as exc:
            return _problem(exc)
        if isinstance(result, Review):
            return Response(ReviewSerializer(result).data)
        if isinstance(result, Redaction):
            return Response(RedactionSerializer(result).data, status=status.HTTP_201_CREATED)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ApproveSerializer, responses=ReviewSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = _valid(ApproveSerializer, request)
        return self._act(services.transcript_approve, conversation=self._conversation(pk),
                         clinician=request.user, override_reason=data["override_reason"])

    @extend_schema(request=ReasonSerializer, responses=ReviewSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = _valid(ReasonSerializer, request)
        return self._act(services.transcript_reject, conversation=self._conversation(pk),
                         clinician=request.user, reason=data["reason"])

    def _message(self, pk, message_id):
        return get_object_or_404(Message, pk=message_id, conversation_id=self._conversation(pk).pk)

    @extend_schema(request=ExcludeSerializer, responses={204: None})
    @action(detail=True, methods=["post"])
    def exclude(self, request, pk=None):
        data = _valid(ExcludeSerializer, request)
        return self._act(services.message_exclude, message=self._message(pk, data["message_id"]),
                         clinician=request.user, reason=data["reason"])

    @extend_schema(request=ExcludeSerializer, responses={204: None})
    @action(detail=True, methods=["post"])
    def include(self, request, pk=None):
        data = _valid(ExcludeSerializer, request)
        return self._act(services.message_include, message=self._message(pk, data["message_id"]),
                         clinician=request.user)

    @extend_schema(request=CrisisSerializer, responses=ReviewSerializer)
    @action(detail=True, methods=["post"], url_path="crisis-inclusion")
    def crisis_inclusion(self, request, pk=None):
        data = _valid(CrisisSerializer, request)
        return self._act(services.transcript_crisis_include, conversation=self._conversation(pk),
                         clinician=request.user, include=data["include"], reason=data["reason"])

    @extend_schema(request=SpanSerializer, responses={201: RedactionSerializer})
    @action(detail=True, methods=["post"])
    def redactions(self, request, pk=None):
        data = _valid(SpanSerializer, request)
        return self._act(services.redaction_add, message=self._message(pk, data["message_id"]),
                         start=data["start"], end=data["end"], label=data["label"],
                         replacement=data["replacement"], clinician=request.user)


class RedactionViewSet(viewsets.GenericViewSet):
    """Accept or dismiss one suggested (or manual) redaction."""

    permission_classes = [IsCurator]
    serializer_class = RedactionSerializer
    queryset = Redaction.objects.all()

    def _decide(self, request, pk, fn):
        r = get_object_or_404(Redaction, pk=pk)
        try:
            r = fn(redaction=r, clinician=request.user)
        except services.CurationError as exc:
            return _problem(exc)
        return Response(RedactionSerializer(r).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._decide(request, pk, services.redaction_accept)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._decide(request, pk, services.redaction_dismiss)


# --- patients ---------------------------------------------------------------------------


