"""The clinician UI: review queue, transcript review page, deny list.

Thin: every change goes through ``clinicians.services`` (which audits it).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.filters import DateFieldListFilter
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from clinicians import selectors, services
from clinicians.models import DenyListEntry, Redaction, Review, Transcript
from conversations.models import Message
from conversations.safety import feedback as screen_feedback
from conversations.safety.defaults import CATEGORIES as SCREEN_CATEGORIES
from conversations.safety.models import ScreeningExample

STATUS_COLOURS = {"pending": "#b26b00", "approved": "#2e7d32", "rejected": "#9e1c1c"}
FLAG_NAMES = {2: "crisis", 1: "concern", 0: ""}


class _ChoiceFilter(admin.SimpleListFilter):
    options: tuple = ()
    filter_kwarg = ""

    def lookups(self, request, model_admin):
        return self.options

    def queryset(self, request, queryset):
        if self.value():
            return selectors.queue_filter(queryset, **{self.filter_kwarg: self.value()})
        return queryset


class StatusFilter(_ChoiceFilter):
    title, parameter_name, filter_kwarg = "review status", "status", "status"
    options = (("pending", "Pending (incl. new messages)"), ("approved", "Approved"), ("rejected", "Rejected"))


class ConsentFilter(_ChoiceFilter):
    title, parameter_name, filter_kwarg = "training consent", "consent", "consent"
    options = (("yes", "Consented"), ("no", "Not consented"))


class FlagFilter(_ChoiceFilter):
    title, parameter_name, filter_kwarg = "safety flag", "flag", "flag"
    options = (("crisis", "Crisis"), ("concern", "Concern"), ("none", "None"))


class QueueChangeList(ChangeList):
    """Sorts and pages on the flag annotations only, then loads counts and status for the
    page's rows: the queue stays fast with 100,000 conversations."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = selectors.queue_page([obj.pk for obj in self.result_list])


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ("conversation", "flag", "status", "patient_name", "consent", "message_count_col",
                    "last_activity", "reviewer")
    list_filter = (StatusFilter, FlagFilter, ConsentFilter, ("updated_at", DateFieldListFilter))
    search_fields = ("title", "patient__username", "=id")
    actions = ("approve_selected", "reject_selected")
    list_per_page = 50
    show_full_result_count = False

    class Media:
        css = {"all": ("clinicians/transcript.css",)}

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Review queue: flagged, then newest", **(extra_context or {})})

    def get_queryset(self, request):
        return selectors.queue_ordered()

    def get_ordering(self, request):
        return selectors.QUEUE_ORDER

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Transcript")
    def conversation(self, obj):
        return f"#{obj.pk} {obj.title or '(untitled)'}"

    @admin.display(description="Flag", ordering="flag_rank")
    def flag(self, obj):
        name = FLAG_NAMES.get(obj.flag_rank, "")
        label = f"{name} (open)" if name and obj.flag_open else name or "–"
        return format_html('<span class="curation-flag curation-flag-{}">{}</span>', name or "none", label)

    @admin.display(description="Status")
    def status(self, obj):
        label = obj.queue_status
        if label == "pending" and obj.pending_messages and getattr(obj, "review", None) is not None \
                and obj.review.status == Review.Status.APPROVED:
            label = f"approved, {obj.pending_messages} new pending"
        return format_html('<strong style="color:{}">{}</strong>', STATUS_COLOURS[obj.queue_status], label)

    @admin.display(description="Patient", ordering="patient__username")
    def patient_name(self, obj):
        return obj.patient.get_username()

    @admin.display(description="Consent", boolean=True)
    def consent(self, obj):
        profile = getattr(obj.patient, "patient_profile", None)
        return bool(profile and profile.training_consent)

    @admin.display(description="Messages")
    def message_count_col(self, obj):
        return obj.message_count

    @admin.display(description="Last activity", ordering="updated_at")
    def last_activity(self, obj):
        return obj.last_message_at or obj.updated_at

    @admin.display(description="Reviewer")
    def reviewer(self, obj):
        review = getattr(obj, "review", None)
        return review.reviewer.get_username() if review and review.reviewer else ""

    # --- bulk actions -------------------------------------------------------------------

    @admin.action(description="Approve selected transcripts for training", permissions=["change"])
    def approve_selected(self, request, queryset):
        approved, refused = 0, []
        for conversation in queryset:
            try:
                services.transcript_approve(conversation=conversation, clinician=request.user)
                approved += 1
            except services.CurationError as exc:
                refused.append(f"#{conversation.pk}: {exc}")
        self.message_user(request, f"Approved {approved} transcripts.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Reject selected transcripts…", permissions=["change"])
    def reject_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            context = {
                **self.admin_site.each_context(request), "opts": self.model._meta,
                "transcripts": queryset, "missing_reason": request.POST.get("confirm") == "yes",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME, "title": "Reject transcripts",
            }
            return TemplateResponse(request, "admin/clinicians/transcript/reject_confirmation.html", context)
        rejected, refused = 0, []
        for conversation in queryset:
            try:
                services.transcript_reject(conversation=conversation, clinician=request.user, reason=reason)
                rejected += 1
            except services.CurationError as exc:
                refused.append(f"#{conversation.pk}: {exc}")
        self.message_user(request, f"Rejected {rejected} transcripts.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
        return None

    # --- the review page ----------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = get_object_or_404(Transcript.objects.select_related("patient"), pk=object_id)
        if not self.has_view_or_change_permission(request, conversation):
            raise PermissionDenied
        can_change = self.has_change_permission(request, conversation)
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            self._handle(request, conversation)
            return HttpResponseRedirect(request.get_full_path())
        return self._render(request, conversation, can_change)  # a read writes nothing

    def _render(self, request, conversation, can_change):
        row = selectors.transcript_queue().get(pk=conversation.pk)
        views = selectors.transcript_messages(conversation)
        # The screen's training labels on this transcript's messages, in one query.
        labels = {e.message_id: e for e in ScreeningExample.objects.filter(message__conversation=conversation)}
        for view in views:
            view.message.screen_label = labels.get(view.message.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "original": conversation, "title": f"Review transcript #{conversation.pk}",
            "row": row, "review": getattr(row, "review", None), "flag": FLAG_NAMES.get(row.flag_rank, ""),
            "messages_view": views, "can_change": can_change,
            "labels": Redaction.Label.choices, "has_view_permission": True,
            "unscanned": selectors.unscanned_count(conversation),
            "can_label_screen": can_change and request.user.has_perm(screen_feedback.LABEL_PERMISSION),
            "screen_categories": [(c, c.replace("_", " ")) for c in SCREEN_CATEGORIES],
        }
        return TemplateResponse(request, "admin/clinicians/transcript/review.html", context)

    def _screen_label(self, request, conversation, op: str) -> None:
        """Missed risk / false alarm on a patient message: a training example for the next
        screening model (the safety app's service checks the permission and audits)."""
        message = get_object_or_404(Message, pk=request.POST.get("message"), conversation=conversation)
        if op == "screen_false_alarm":
            screen_feedback.false_alarm_mark(message=message, actor=request.user)
        else:
            screen_feedback.missed_risk_mark(message=message, actor=request.user, level=request.POST.get("level", ""),
                                             category=request.POST.get("category", ""))
        self.message_user(request, "Labelled for the safety screen's next training.", messages.SUCCESS)

    def _handle(self, request, conversation) -> None:
        op, user, post = request.POST.get("op", ""), request.user, request.POST
        try:
            if op == "approve":
                services.transcript_approve(conversation=conversation, clinician=user,
                                            override_reason=post.get("override_reason", ""))
                self.message_user(request, "Transcript approved for training.", messages.SUCCESS)
            elif op == "reject":
                services.transcript_reject(conversation=conversation, clinician=user, reason=post.get("reason", ""))
                self.message_user(request, "Transcript rejected.", messages.SUCCESS)
            elif op == "suggest":
                count = services.redactions_suggest(conversation=conversation, actor=user)
                self.message_user(request, f"Scanned: {count} new suggestions.", messages.SUCCESS)
            elif op == "accept_all":
                count = services.redactions_accept_all(conversation=conversation, clinician=user)
                self.message_user(request, f"Accepted {count} suggestions.", messages.SUCCESS)
            elif op in {"accept", "dismiss"}:
                r = get_object_or_404(Redaction, pk=post.get("redaction"), conversation=conversation)
                service = services.redaction_accept if op == "accept" else services.redaction_dismiss
                service(redaction=r, clinician=user)
            elif op == "redact":
                message = get_object_or_404(Message, pk=post.get("message"), conversation=conversation)
                start, end = _aligned(message.content, _int(post.get("start")), _int(post.get("end")),
                                      post.get("selected", ""))
                services.redaction_add(message=message, start=start, end=end, label=post.get("label", ""),
                                       replacement=post.get("replacement", ""), clinician=user)
                self.message_user(request, "Redaction added.", messages.SUCCESS)
            elif op in {"exclude", "include"}:
                message = get_object_or_404(Message, pk=post.get("message"), conversation=conversation)
                if op == "exclude":
                    services.message_exclude(message=message, clinician=user, reason=post.get("reason", ""))
                else:
                    services.message_include(message=message, clinician=user)
            elif op in {"crisis_include", "crisis_exclude"}:
                services.transcript_crisis_include(conversation=conversation, clinician=user,
                                                   include=op == "crisis_include", reason=post.get("reason", ""))
            elif op in {"screen_missed", "screen_false_alarm"}:
                self._screen_label(request, conversation, op)
            else:
                self.message_user(request, f"Unknown operation {op!r}.", messages.ERROR)
        except services.CurationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)


def _aligned(content: str, start, end, selected: str):
    """Browsers count characters after turning CRLF into LF: when the text the clinician
    selected is not at the posted offsets, use its occurrence nearest to them."""
    if not selected or start is None or content[start:end] == selected:
        return start, end
    found = [i for i in range(len(content)) if content.startswith(selected, i)]
    if not found:
        return start, end
    best = min(found, key=lambda i: abs(i - start))
    return best, best + len(selected)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@admin.register(DenyListEntry)
class DenyListEntryAdmin(admin.ModelAdmin):
    """Terms always suggested for redaction. Every change is audited (no term text in the log)."""

    list_display = ("term", "label", "note", "created_by", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("term", "note")
    fields = ("term", "label", "note")

    def save_model(self, request, obj, form, change):
        services.deny_list_entry_save(entry=obj, actor=request.user, changed=form.changed_data)

    def delete_model(self, request, obj):
        services.deny_list_entry_delete(entry=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def review_url(conversation_id: int) -> str:
    return reverse("admin:clinicians_transcript_change", args=[conversation_id])
