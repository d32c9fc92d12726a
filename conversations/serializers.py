"""REST API representations of conversations, messages and chat turns."""

import functools

from django.conf import settings
from rest_framework import serializers

from conversations.models import Conversation, Message
from therapist_ai.api_fields import StrictCharField


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "created_at",
            "status",
            "failure_reason",
            "reply_to",
            "provider",
            "model_name",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "safety_level",
            "safety_categories",
        ]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    class Meta:
        model = Conversation
        fields = ["id", "title", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]


class MessageContentField(StrictCharField):
    """1 to ``MESSAGE_MAX_CHARS`` characters, not all whitespace; stored without the whitespace
    around it. The limit is read per request (the setting is its one source) and applies to the
    text as sent, so the schema can say exactly what is taken."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        limit = settings.MESSAGE_MAX_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters (it has {len(value)})."
            )
        value = value.strip()
        if not value:
            self.fail("blank")
        return value

    def schema_update(self, schema: dict) -> None:
        """Called by the schema generator (``therapist_ai.api_schema``)."""
        schema.update(maxLength=settings.MESSAGE_MAX_CHARS, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")


class MessageCreateSerializer(serializers.Serializer):
    content = MessageContentField(
        help_text="The patient's message, 1 to MESSAGE_MAX_CHARS (default 8,000) characters, not only whitespace.",
    )


class SafetyResourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    contact = serializers.CharField()
    url = serializers.CharField(allow_blank=True)


class SafetySerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=Message.SafetyLevel.choices)
    categories = serializers.ListField(child=serializers.CharField())
    resources = SafetyResourceSerializer(many=True)


class ChatTurnSerializer(serializers.Serializer):
    """One turn: the stored patient message, the stored assistant reply, the safety verdict."""

    patient_message = MessageSerializer()
    reply = MessageSerializer()
    safety = SafetySerializer()
    created = serializers.BooleanField(
        help_text="False when an Idempotency-Key replay returned the first result."
    )


@functools.cache
def _chat_turn_serializer() -> ChatTurnSerializer:
    return ChatTurnSerializer()


def chat_turn_data(turn) -> dict:
    """``ChatTurnSerializer(turn).data``, from one serializer made once per process.

    DRF builds a serializer's fields (and its nested serializers' fields) anew for every
    instance, ~1 ms a chat turn; representing is read-only, so one instance serves every
    turn, from any thread.
    """
    return _chat_turn_serializer().to_representation(turn)
