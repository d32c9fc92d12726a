"""REST API for patients: their conversations and chat turns (``/api/v1/``).

Thin: validate, call one service, present the result. Every write goes through
``conversations.services``; the same services back the web pages. Tokens and a patient's
own data rights are in ``conversations.accounts.api``.
"""

import re

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from conversations.models import Conversation, Message
from conversations.serializers import (
    ChatTurnSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    SafetySerializer,
    chat_turn_data,
)
from conversations.services import chat
from conversations.throttles import ChatTurnThrottle
from therapist_ai.permissions import ActionPermissions

IDEMPOTENCY_KEY_MAX = 200  # Message.idempotency_key max_length
# Visible ASCII, spaces allowed inside; whitespace after the key is not part of it (HTTP
# servers strip it from header values before the application sees them).
IDEMPOTENCY_KEY_PATTERN = rf"^[!-~]([ -~]{{0,{IDEMPOTENCY_KEY_MAX - 2}}}[!-~])?[ \t]*$"


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise serializers.ValidationError(
            {"Idempotency-Key": [f"Must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters."]}
        )
    return key.rstrip()


def _turn_response(turn) -> Response:
    if turn.reply is None:
        # An Idempotency-Key replay while the first request is still waiting for its reply.
        return Response(
            {
                "detail": "A request with this Idempotency-Key is still being answered. Retry shortly.",
                "patient_message": MessageSerializer(turn.patient_message).data,
            },
            status=status.HTTP_409_CONFLICT,
            headers={"Retry-After": "1"},
        )
    body = chat_turn_data(turn)
    if turn.reply.status == Message.Status.FAILED:
        # The patient message is stored; the upstream failed. 502 tells clients the
        # failure is upstream; the body carries both stored messages and the reason.
        body["detail"] = "The AI service did not answer; your message is saved. Retry the reply."
        return Response(body, status=status.HTTP_502_BAD_GATEWAY)
    response = Response(body, status=status.HTTP_201_CREATED if turn.created else status.HTTP_200_OK)
    if settings.SERVER_TIMING and turn.screen_ms is not None:
        response["Server-Timing"] = f"screen;dur={turn.screen_ms:.2f}"
    return response


_turn_responses = {
    201: ChatTurnSerializer,
    200: OpenApiResponse(ChatTurnSerializer, description="Idempotency-Key replay: the first result."),
    502: OpenApiResponse(
        inline_serializer("ChatTurnFailed", {"detail": serializers.CharField(), "patient_message": MessageSerializer(),
                                             "reply": MessageSerializer(), "safety": SafetySerializer(),
                                             "created": serializers.BooleanField()}),
        description="Upstream failed: the patient message is stored, the reply is stored as failed.",
    ),
    409: OpenApiResponse(
        inline_serializer("ChatTurnPending", {"detail": serializers.CharField(),
                                              "patient_message": MessageSerializer(required=False)}),
        description="An Idempotency-Key replay while the first request is still being answered "
                    "(with the stored `patient_message`; retry after `Retry-After` seconds); or, for a "
                    "retry, the reply is not a failed one.",
    ),
}


@extend_schema_view(
    list=extend_schema(summary="The patient's own conversations, newest first"),
    create=extend_schema(summary="Start a conversation"),
    retrieve=extend_schema(summary="One of the patient's conversations with its messages"),
)
class ConversationViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [ActionPermissions]
    permission_denied_message = "Only patients can use this endpoint."
    lookup_value_regex = r"[0-9]{1,18}"
    action_permissions = {
        action: ["conversations.chat_as_patient"] for action in ("list", "create", "retrieve", "messages", "retry")
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Conversation.objects.none()
        queryset = Conversation.objects.owned_by(self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("messages")
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ConversationDetailSerializer
        if self.action == "messages":
            return MessageCreateSerializer
        return ConversationSerializer

    def get_throttles(self):
        if self.action in ("messages", "retry"):
            return [ChatTurnThrottle()]
        return super().get_throttles()

    def perform_create(self, serializer):
        serializer.instance = chat.conversation_create(
            patient=self.request.user, title=serializer.validated_data.get("title", "")
        )

    @extend_schema(
        summary="Send a message and get the assistant's reply",
        request=MessageCreateSerializer,
        responses=_turn_responses,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="A retried post with the same key returns the first result; no second message. "
                            f"1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters (spaces inside are kept).",
                pattern=IDEMPOTENCY_KEY_PATTERN,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        key = _idempotency_key(request)
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = chat.message_send(
            conversation=conversation,
            content=serializer.validated_data["content"],
            idempotency_key=key,
        )
        return _turn_response(turn)

    @extend_schema(summary="Ask again for a failed reply", request=None, responses=_turn_responses,
                   parameters=[OpenApiParameter("message_id", int, OpenApiParameter.PATH,
                                                description="The failed assistant reply.")])
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>[0-9]{1,18})/retry")
    def retry(self, request, pk=None, message_id=None):
        conversation = self.get_object()
        failed_reply = get_object_or_404(
            conversation.messages, pk=message_id, role=Message.Role.ASSISTANT
        )
        if failed_reply.status != Message.Status.FAILED:
            return Response(
                {"detail": "Only a failed reply can be retried."}, status=status.HTTP_409_CONFLICT
            )
        return _turn_response(chat.reply_retry(message=failed_reply))
