"""The chat page's form (validation only; the services do the writing)."""

from django import forms
from django.conf import settings


class MessageForm(forms.Form):
    content = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write what's on your mind…"}),
        max_length=settings.MESSAGE_MAX_CHARS, label="Your message",
        error_messages={"required": "Write a message first."},
    )
