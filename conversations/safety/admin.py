"""Clinicians handle flags, label what the screen got wrong, and edit the safety wording and
lists here; staff may look. The "Screening model" page says which model version screens."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from conversations.safety import feedback, services
from conversations.safety.defaults import CATEGORIES
from conversations.safety.models import (
    ContentVersion,
    CrisisResource,
    OutputReplacement,
    SafetyFlag,
    SafetyTemplate,
    ScreeningExample,
    ScreeningRule,
)
from conversations.safety.selectors import screening_feedback_counts
from therapist_ai.admin import ReadOnlyAdmin


class VersionedContentAdmin(admin.ModelAdmin):
    """Every save and delete goes through the versioning service (audited)."""

    readonly_fields = ("version", "updated_at", "updated_by", "previous_versions")

    def save_model(self, request, obj, form, change):
        services.safety_content_save(instance=obj, actor=request.user)

    def delete_model(self, request, obj):
        services.safety_content_delete(instance=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.safety_content_delete(instance=obj, actor=request.user)

    @admin.display(description="Previous versions")
    def previous_versions(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        url = reverse("admin:safety_contentversion_changelist")
        name = obj._meta.model_name
        count = ContentVersion.objects.filter(content_type=name, object_id=obj.pk).count()
        return format_html('<a href="{}?content_type={}&object_id={}">{} saved versions</a>', url, name, obj.pk, count)


@admin.register(ScreeningRule)
class ScreeningRuleAdmin(VersionedContentAdmin):
    list_display = ("note", "kind", "category", "level", "active", "overrulable", "version", "updated_at")
    list_filter = ("kind", "category", "level", "active", "overrulable")
    search_fields = ("text", "note")
    fields = ("kind", "category", "level", "text", "note", "active", "overrulable",
              *VersionedContentAdmin.readonly_fields)


@admin.register(SafetyTemplate)
class SafetyTemplateAdmin(VersionedContentAdmin):
    list_display = ("kind", "locale", "version", "updated_at", "updated_by")
    list_filter = ("kind", "locale")
    fields = ("kind", "locale", "body", *VersionedContentAdmin.readonly_fields)


@admin.register(CrisisResource)
class CrisisResourceAdmin(VersionedContentAdmin):
    list_display = ("name", "contact", "url", "locale", "position", "active", "version")
    list_filter = ("locale", "active")
    fields = ("locale", "name", "contact", "url", "position", "active", *VersionedContentAdmin.readonly_fields)


@admin.register(ContentVersion)
class ContentVersionAdmin(ReadOnlyAdmin):
    list_display = ("content_type", "object_id", "version", "action", "changed_by", "changed_at")
    list_filter = ("content_type", "action")
    readonly_fields = [f.name for f in ContentVersion._meta.fields]


class OpenFilter(admin.SimpleListFilter):
    title, parameter_name = "state", "open"

    def lookups(self, request, model_admin):
        return (("yes", "Open"), ("no", "Handled"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(handled_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(handled_at__isnull=False)
        return queryset


class HandleForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
                           help_text="What was done: who was contacted, the outcome.")


class MissedRiskForm(forms.Form):
    level = forms.ChoiceField(choices=[("concern", "Concern"), ("crisis", "Crisis")],
                              help_text="The level the message should have had.")
    category = forms.ChoiceField(choices=[(c, c.replace("_", " ")) for c in CATEGORIES])


@admin.register(SafetyFlag)
class SafetyFlagAdmin(admin.ModelAdmin):
    list_display = ("conversation_link", "level", "category_list", "created_at", "state", "handled_by")
    list_filter = (OpenFilter, "level")
    ordering = ("handled_at", "-created_at")  # open flags (no handled_at) first
    actions = ["mark_handled", "mark_false_alarm", "mark_missed_risk"]
    readonly_fields = ("conversation_link", "message", "level", "categories", "reason", "created_at",
                       "handled_at", "handled_by", "handled_note")
    fields = readonly_fields

    def get_readonly_fields(self, request, obj=None):
        # An open flag is handled from its page by writing the note; a handled one is history.
        if obj is not None and obj.is_open and self.has_change_permission(request, obj):
            return tuple(f for f in self.readonly_fields if f != "handled_note")
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "handled_note" in form.base_fields:
            form.base_fields["handled_note"].required = True
            form.base_fields["handled_note"].label = "Note (what was done) — saving marks the flag handled"
        return form

    def save_model(self, request, obj, form, change):
        if "handled_note" in form.changed_data:
            services.flag_handle(flag=obj, actor=request.user, note=form.cleaned_data["handled_note"])

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("conversation", "handled_by")
        return qs.order_by(F("handled_at").asc(nulls_first=True), "-created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Conversation")
    def conversation_link(self, obj):
        try:  # the curation app's transcript review page
            url = reverse("admin:clinicians_transcript_change", args=[obj.conversation_id])
        except NoReverseMatch:
            return f"Conversation {obj.conversation_id}"
        return format_html('<a href="{}">Conversation {}</a>', url, obj.conversation_id)

    @admin.display(description="Categories")
    def category_list(self, obj):
        return ", ".join(c.replace("_", " ") for c in obj.categories)

    @admin.display(description="State", boolean=False)
    def state(self, obj):
        return "open" if obj.is_open else "handled"

    @admin.action(description="Mark handled (with a note)", permissions=["change"])
    def mark_handled(self, request, queryset):
        form = HandleForm(request.POST if "note" in request.POST else None)
        if form.is_valid():
            done = 0
            for flag in queryset:
                try:
                    services.flag_handle(flag=flag, actor=request.user, note=form.cleaned_data["note"])
                    done += 1
                except ValidationError as exc:
                    self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            self.message_user(request, f"Marked {done} flag{'s' if done != 1 else ''} handled.")
            return redirect(request.get_full_path())
        return self._action_form(request, queryset, form, action="mark_handled", title="Mark safety flags handled",
                                 intro="Mark these flags handled:", submit="Mark handled", note_handled=True)

    def _action_form(self, request, queryset, form, **page):
        """The page an action shows first: the selected flags and the action's form."""
        return render(request, "admin/safety/safetyflag/action_form.html", {
            **self.admin_site.each_context(request), **page, "flags": queryset, "form": form,
            "opts": self.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })


    def has_label_permission(self, request):
        return request.user.has_perm(feedback.LABEL_PERMISSION)

    def _label(self, request, queryset, mark, **label) -> None:
        done, skipped = 0, 0
        for flag in queryset.select_related("message"):
            if flag.message is None:
                skipped += 1
                continue
            try:
                mark(message=flag.message, actor=request.user, flag=flag, **label)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"Flag {flag.pk}: {exc}", messages.ERROR)
        self.message_user(request, f"Labelled {done} message{'s' if done != 1 else ''} for the screen's next "
                                   f"training{f'; {skipped} flags have no message' if skipped else ''}.")

    @admin.action(description="Mark false alarm (the screen learns from it)", permissions=["label"])
    def mark_false_alarm(self, request, queryset):
        self._label(request, queryset, feedback.false_alarm_mark)

    @admin.action(description="Mark missed risk (level and category)…", permissions=["label"])
    def mark_missed_risk(self, request, queryset):
        form = MissedRiskForm(request.POST if "level" in request.POST else None)
        if form.is_valid():
            self._label(request, queryset, feedback.missed_risk_mark, level=form.cleaned_data["level"],
                        category=form.cleaned_data["category"])
            return redirect(request.get_full_path())
        return self._action_form(
            request, queryset, form, action="mark_missed_risk", title="Label what the screen missed",
            submit="Label missed risk",
            intro="These flagged messages were riskier than the screen said. The label you give becomes a "
                  "training example for the next screening model version (never evaluation data).")


@admin.register(ScreeningExample)
class ScreeningExampleAdmin(ReadOnlyAdmin):
    """Clinicians' labels waiting for (or used by) the screen's training; changed only by marking
    the message again (audited). The "Screening model" page: which version screens."""

    list_display = ("message_link", "level", "category", "source", "labelled_by", "updated_at")
    list_filter = ("source", "level", "category")
    list_select_related = ("message", "labelled_by")
    readonly_fields = ("message", "level", "category", "source", "flag", "labelled_by", "created_at", "updated_at")

    @admin.display(description="Message")
    def message_link(self, obj):
        try:
            url = reverse("admin:clinicians_transcript_change", args=[obj.message.conversation_id])
        except NoReverseMatch:
            return f"Message {obj.message_id}"
        return format_html('<a href="{}#message-{}">Message {}</a>', url, obj.message_id, obj.message_id)

    def get_urls(self):
        page = self.admin_site.admin_view(self.screening_model_view)
        return [path("screening-model/", page, name="safety_screening_model"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"screening_model_url": reverse("admin:safety_screening_model"),
                                                 **(extra_context or {})})

    def screening_model_view(self, request):
        from conversations.safety.screen_model import screen_model_status

        user = request.user
        if not (user.has_perm("safety.view_screeningexample") or user.has_perm("safety.view_safetyflag")):
            raise PermissionDenied
        status = screen_model_status()
        labelled, used = screening_feedback_counts(status)
        context = {**self.admin_site.each_context(request), "title": "Screening model", "opts": self.model._meta,
                   "status": status, "labelled": labelled, "used": used}
        return TemplateResponse(request, "admin/safety/screening_model.html", context)


@admin.register(OutputReplacement)
class OutputReplacementAdmin(admin.ModelAdmin):
    list_display = ("created_at", "provider", "model_name", "categories", "conversation")
    list_filter = ("provider", "model_name")
    readonly_fields = [f.name for f in OutputReplacement._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
