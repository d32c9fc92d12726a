"""REST API for curation: the review queue, transcripts, redactions and the deny list
(clinicians change; staff read). Authorization is the admin's: the model permissions
``clinicians.view_transcript``/``change_transcript`` and ``clinicians.*_denylistentry``.

Thin: validate, call the same service the admin calls, present the result.
Errors: 400 malformed input, 404 unknown or erased, 409 refused in the current state
(already approved or rejected, a span outside the message or over another redaction, a term
already on the deny list), 422 the final scan refused the approval (``findings`` say where).
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinicians import selectors, services
from clinicians.models import DenyListEntry, Redaction, Review
from conversations.models import Message
from therapist_ai.api_fields import ID_MAX, StrictBooleanField, StrictCharField, StrictIntegerField
from therapist_ai.api_schema import PROBLEM, Conflict
from therapist_ai.permissions import ActionPermissions

VIEW, CHANGE = "clinicians.view_transcript", "clinicians.change_transcript"
CURATION_DENIED = "Only clinicians (and, read-only, staff) can use the review API."

# --- errors -----------------------------------------------------------------------------

FINDINGS = OpenApiResponse(
    inline_serializer("FinalScanRefusal", {
        "detail": serializers.CharField(),
        "findings": inline_serializer("Finding", {
            "message_id": serializers.IntegerField(), "label": serializers.CharField(),
            "detector": serializers.CharField(), "start": serializers.IntegerField(),
            "end": serializers.IntegerField(), "text": serializers.CharField()}, many=True),
    }),
    description="The final scan found identifiers left in the text: redact them, or approve with an "
                "`override_reason`.",
)


def _problem(exc: services.CurationError) -> Response:
    if isinstance(exc, services.FinalScanFailed):
        findings = [{"message_id": f.message_id, "label": f.label, "detector": f.detector,
                     "start": f.start, "end": f.end, "text": f.text} for f in exc.findings]
        return Response({"detail": str(exc), "findings": findings}, status=422)
    if isinstance(exc, services.ConversationGone):
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    # Already decided, or a span that does not fit this message's text or its redactions:
    # a well-formed request the transcript's current state refuses.
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
    reviewer = serializers.CharField(source="reviewer.username", default=None, allow_null=True)

    class Meta:
        model = Review
        fields = ["status", "approved_through_message_id", "reviewer", "reviewed_at", "reason",
                  "override_reason", "include_despite_crisis", "crisis_inclusion_reason"]


class TranscriptMessageSerializer(serializers.Serializer):
    """One message of a transcript (``selectors.MessageView``): the original, the redacted text."""

    id = serializers.IntegerField(source="message.pk")
    role = serializers.CharField(source="message.role")
    created_at = serializers.DateTimeField(source="message.created_at")
    status = serializers.CharField(source="message.status")
    safety_level = serializers.CharField(source="message.safety_level")
    content = serializers.CharField(source="message.content")
    redacted = serializers.CharField()
    excluded = serializers.BooleanField()
    approved = serializers.BooleanField()
    redactions = RedactionSerializer(many=True)


class TranscriptDetailSerializer(QueueItemSerializer):
    """A transcript as the review page shows it (for the schema; built from the queue row)."""

    review = ReviewSerializer(allow_null=True)
    messages = TranscriptMessageSerializer(many=True)


def _optional_text(**kwargs):
    return StrictCharField(required=False, allow_blank=True, default="", max_length=2000, **kwargs)


class ApproveSerializer(serializers.Serializer):
    override_reason = _optional_text(help_text="Approve although the final scan found identifiers (why).")


class ReasonSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000)


class ExcludeSerializer(serializers.Serializer):
    message_id = StrictIntegerField(min_value=1, max_value=ID_MAX)
    reason = _optional_text()


class CrisisSerializer(serializers.Serializer):
    include = StrictBooleanField()
    reason = _optional_text()


class SpanSerializer(serializers.Serializer):
    message_id = StrictIntegerField(min_value=1, max_value=ID_MAX)
    start = StrictIntegerField(min_value=0, max_value=ID_MAX, help_text="First character (0-based).")
    end = StrictIntegerField(min_value=1, max_value=ID_MAX, help_text="One past the last character.")
    label = serializers.ChoiceField(choices=Redaction.Label.choices)
    replacement = StrictCharField(required=False, allow_blank=True, default="", max_length=40)


def _valid(serializer_class, request) -> dict:
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


# --- clinicians -------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATETIME)
class SinceField(serializers.Field):
    """An ISO 8601 date-time (a date alone means its midnight), in UTC when no offset is given."""

    default_error_messages = {"invalid": "Use an ISO date or date-time."}

    def to_internal_value(self, data):
        text = str(data).strip().upper()  # RFC 3339 allows a lower-case "t" and "z"
        try:
            parsed = parse_datetime(text)
            if parsed is None and (day := parse_date(text)) is not None:
                parsed = datetime.datetime.combine(day, datetime.time.min)
        except ValueError:  # well formed, but no such date or time
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=datetime.UTC)
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError:  # before year 1 or after 9999 in UTC: every or no transcript
            return datetime.datetime.min.replace(tzinfo=datetime.UTC) if parsed.year == 1 \
                else datetime.datetime.max.replace(tzinfo=datetime.UTC)


class QueueFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "approved", "rejected"], required=False)
    consent = serializers.ChoiceField(choices=["yes", "no"], required=False)
    flag = serializers.ChoiceField(choices=["crisis", "concern", "none"], required=False)
    since = SinceField(required=False, help_text="Only transcripts updated since (a date alone: its midnight).")
    search = StrictCharField(required=False, allow_blank=True, max_length=200,
                             help_text="Words in the title, the patient's username, or the id.")


class TranscriptViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The review queue and each transcript with its redaction suggestions."""

    permission_classes = [ActionPermissions]
    permission_denied_message = CURATION_DENIED
    action_permissions = {"list": [VIEW], "retrieve": [VIEW], **{
        name: [VIEW, CHANGE]
        for name in ("approve", "reject", "exclude", "include", "crisis_inclusion", "redactions", "suggest")}}
    lookup_value_regex = r"[0-9]{1,18}"
    serializer_class = QueueItemSerializer

    @extend_schema(parameters=[QueueFilterSerializer])
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = selectors.queue_page([row.pk for row in page])
        return self.get_paginated_response(QueueItemSerializer(rows, many=True).data)

    def get_queryset(self):
        # A plain dict: DRF would take "status=" from a QueryDict as "not given".
        filters = QueueFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        return selectors.queue_filter(
            selectors.queue_ordered(), status=f.get("status", ""), consent=f.get("consent", ""),
            flag=f.get("flag", ""), since=f.get("since"), search=f.get("search", ""),
        )

    def _conversation(self, pk):
        return get_object_or_404(selectors.transcript_queue(), pk=pk)

    @extend_schema(responses=TranscriptDetailSerializer)
    def retrieve(self, request, pk=None):
        row = self._conversation(pk)  # a read writes nothing: suggestions come from ``suggest`` or the worker
        review = Review.objects.filter(conversation=row).select_related("reviewer").first()
        return Response({
            **QueueItemSerializer(row).data,
            "review": ReviewSerializer(review).data if review else None,
            "messages": TranscriptMessageSerializer(selectors.transcript_messages(row), many=True).data,
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

    @extend_schema(request=ApproveSerializer, responses={200: ReviewSerializer, 409: PROBLEM, 422: FINDINGS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = _valid(ApproveSerializer, request)
        return self._act(services.transcript_approve, conversation=self._conversation(pk),
                         clinician=request.user, override_reason=data["override_reason"])

    @extend_schema(request=ReasonSerializer, responses={200: ReviewSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = _valid(ReasonSerializer, request)
        return self._act(services.transcript_reject, conversation=self._conversation(pk),
                         clinician=request.user, reason=data["reason"])

    def _message(self, pk, message_id):
        return get_object_or_404(Message, pk=message_id, conversation_id=self._conversation(pk).pk)

    @extend_schema(request=ExcludeSerializer, responses={204: None, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def exclude(self, request, pk=None):
        data = _valid(ExcludeSerializer, request)
        return self._act(services.message_exclude, message=self._message(pk, data["message_id"]),
                         clinician=request.user, reason=data["reason"])

    @extend_schema(request=ExcludeSerializer, responses={204: None, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def include(self, request, pk=None):
        data = _valid(ExcludeSerializer, request)
        return self._act(services.message_include, message=self._message(pk, data["message_id"]),
                         clinician=request.user)

    @extend_schema(request=CrisisSerializer, responses={200: ReviewSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"], url_path="crisis-inclusion")
    def crisis_inclusion(self, request, pk=None):
        data = _valid(CrisisSerializer, request)
        return self._act(services.transcript_crisis_include, conversation=self._conversation(pk),
                         clinician=request.user, include=data["include"], reason=data["reason"])

    @extend_schema(request=SpanSerializer, responses={201: RedactionSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def redactions(self, request, pk=None):
        data = _valid(SpanSerializer, request)
        return self._act(services.redaction_add, message=self._message(pk, data["message_id"]),
                         start=data["start"], end=data["end"], label=data["label"],
                         replacement=data["replacement"], clinician=request.user)


class RedactionViewSet(viewsets.GenericViewSet):
    """Accept or dismiss one suggested (or manual) redaction."""

    permission_classes = [ActionPermissions]
    permission_denied_message = CURATION_DENIED
    action_permissions = {"accept": [VIEW, CHANGE], "dismiss": [VIEW, CHANGE]}
    lookup_value_regex = r"[0-9]{1,18}"
    serializer_class = RedactionSerializer
    queryset = Redaction.objects.all()

    def _decide(self, request, pk, fn):
        r = get_object_or_404(Redaction, pk=pk)
        try:
            r = fn(redaction=r, clinician=request.user)
        except services.CurationError as exc:
            return _problem(exc)
        return Response(RedactionSerializer(r).data)

    @extend_schema(request=None, responses={200: RedactionSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._decide(request, pk, services.redaction_accept)

    @extend_schema(request=None, responses={200: RedactionSerializer, 409: PROBLEM})
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._decide(request, pk, services.redaction_dismiss)


# --- deny list --------------------------------------------------------------------------


class DenyListEntrySerializer(serializers.ModelSerializer):
    term = StrictCharField(max_length=200, help_text="Always suggested for redaction (a clinic, a town, a nickname).")
    note = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = DenyListEntry
        fields = ["id", "term", "label", "note", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


_DENY_LIST_WRITE = extend_schema(responses={200: DenyListEntrySerializer, 409: PROBLEM})


@extend_schema_view(create=extend_schema(responses={201: DenyListEntrySerializer, 409: PROBLEM}),
                    update=_DENY_LIST_WRITE, partial_update=_DENY_LIST_WRITE)
class DenyListEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Terms always suggested for redaction. Every change is audited (without the term).
    A term that is already on the list is refused with 409."""

    queryset = DenyListEntry.objects.select_related("created_by")
    serializer_class = DenyListEntrySerializer
    permission_classes = [ActionPermissions]
    action_permissions = {
        "list": ["clinicians.view_denylistentry"], "retrieve": ["clinicians.view_denylistentry"],
        "create": ["clinicians.add_denylistentry"], "update": ["clinicians.change_denylistentry"],
        "partial_update": ["clinicians.change_denylistentry"], "destroy": ["clinicians.delete_denylistentry"],
    }
    lookup_value_regex = r"[0-9]{1,18}"

    def perform_create(self, serializer):
        self._save(DenyListEntry(**serializer.validated_data), serializer)

    def perform_update(self, serializer):
        entry = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(entry, name, value)
        self._save(entry, serializer)

    def _save(self, entry, serializer):
        others = DenyListEntry.objects.exclude(pk=entry.pk) if entry.pk else DenyListEntry.objects.all()
        if others.filter(term=entry.term).exists():
            raise Conflict(f"{entry.term!r} is already on the deny list.")
        try:
            serializer.instance = services.deny_list_entry_save(
                entry=entry, actor=self.request.user, changed=sorted(serializer.validated_data))
        except IntegrityError:  # the same term added at the same moment
            raise Conflict(f"{entry.term!r} is already on the deny list.") from None

    def perform_destroy(self, instance):
        services.deny_list_entry_delete(entry=instance, actor=self.request.user)

