"""Patient pages: home, help, conversation list, chat (streamed and plain). Account pages are
in ``conversations.accounts``.

The chat form posts to ``conversation_detail`` (works without JavaScript: full reply, then
a redirect back to the page). ``static/js/chat.js`` sends the same form to
``conversation_stream`` instead, which answers with server-sent events as the reply is
generated.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from conversations import selectors
from conversations.accounts.views import patient_required
from conversations.forms import MessageForm
from conversations.models import Message
from conversations.safety.services import resources_for_display
from conversations.services.chat import conversation_create, message_send, reply_retry
from conversations.services.streaming import message_stream
from conversations.throttles import ChatTurnThrottle, too_fast_message, wait_seconds
from therapist_ai.roles import is_patient


def home(request):
    if request.user.is_authenticated:
        return redirect("admin:index" if request.user.is_staff and not is_patient(request.user)
                        else "conversations:list")
    return render(request, "conversations/home.html")


def help_page(request):
    return render(request, "conversations/help.html", {"resources": resources_for_display()})


@patient_required
def conversation_list(request):
    return render(request, "conversations/list.html",
                  {"conversations": selectors.conversations_of(patient=request.user)})


@patient_required
@require_http_methods(["GET", "POST"])
def conversation_new(request):
    if request.method == "POST":
        conversation = conversation_create(patient=request.user, title=request.POST.get("title", ""))
        return redirect("conversations:detail", pk=conversation.pk)
    return render(request, "conversations/new.html")


@patient_required
@require_http_methods(["GET", "POST"])
def conversation_detail(request, pk: int):
    conversation = selectors.conversation_of_patient(patient=request.user, conversation_id=pk)
    form = MessageForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid() and (wait := wait_seconds(ChatTurnThrottle, request)):
        form.add_error("content", too_fast_message(wait))  # the form keeps the text
        status = 429
    elif request.method == "POST" and form.is_valid():
        try:
            turn = message_send(conversation=conversation, content=form.cleaned_data["content"])
        except ValidationError as exc:
            form.add_error("content", exc.messages)
        else:
            if turn.reply is not None and turn.reply.status == Message.Status.FAILED:
                messages.error(request, f"The AI couldn't reply: {turn.reply.failure_reason} "
                                        "Your message is saved; you can retry.")
            return redirect(f"{reverse('conversations:detail', args=[pk])}#latest")
    return render(request, "conversations/detail.html", {
        "conversation": conversation,
        "transcript": selectors.transcript(conversation=conversation),
        "form": form,
    }, status=status)


@patient_required
@require_POST
def reply_retry_view(request, pk: int):
    message = selectors.retryable_of_patient(patient=request.user, message_id=pk)
    if wait := wait_seconds(ChatTurnThrottle, request):
        messages.error(request, f"Too many messages at once: please wait {wait} seconds and retry.")
        return redirect(f"{reverse('conversations:detail', args=[message.conversation_id])}#latest")
    turn = reply_retry(message=message)
    if turn.reply is not None and turn.reply.status == Message.Status.FAILED:
        messages.error(request, f"The AI still couldn't reply: {turn.reply.failure_reason}")
    return redirect(f"{reverse('conversations:detail', args=[message.conversation_id])}#latest")


# --- Streaming (async; served by the ASGI server) ----------------------------------------------

def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _stream_conversation(request, pk: int):
    """(conversation, None) or (None, refusal) for the streaming endpoint. Sync, one trip:
    the session, the user, their role and the conversation are all database reads."""
    user = request.user
    if not user.is_authenticated:
        return None, JsonResponse({"detail": "Log in to chat."}, status=403)
    if not is_patient(user):
        return None, JsonResponse({"detail": "This page is for patients."}, status=403)
    conversation = selectors.conversation_of_patient(patient=user, conversation_id=pk)
    if wait := wait_seconds(ChatTurnThrottle, request):
        refusal = JsonResponse({"detail": too_fast_message(wait), "retry_after": wait}, status=429)
        refusal["Retry-After"] = str(wait)
        return None, refusal
    return conversation, None


@require_POST
async def conversation_stream(request, pk: int):
    conversation, refusal = await sync_to_async(_stream_conversation)(request, pk)
    if refusal is not None:
        return refusal
    events = message_stream(conversation=conversation, content=request.POST.get("content", ""))
    try:
        first = await anext(events)  # validates and commits the patient's message
    except ValidationError as exc:
        return JsonResponse({"detail": " ".join(exc.messages)}, status=400)

    async def body():
        yield _sse(first.type, first.data)
        async for event in events:
            data = event.data
            if event.type == "error" and data.get("reply_id"):
                data = {**data, "retry_url": reverse("conversations:retry", args=[data["reply_id"]])}
            yield _sse(event.type, data)

    response = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # proxies must not hold the reply back
    if settings.SERVER_TIMING and first.screen_ms is not None:
        response["Server-Timing"] = f"screen;dur={first.screen_ms:.2f}"
    return response
