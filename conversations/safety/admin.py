"""Clinicians handle flags and edit the safety wording and lists here; staff may look."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from conversations.safety import services
from conversations.safety.models import (
    ContentVersion,
    CrisisResource,
    OutputReplacement,
    SafetyFlag,
    SafetyTemplate,
    ScreeningRule,
)
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
    list_display = ("note", "kind", "category", "level", "active", "version", "updated_at")
    list_filter = ("kind", "category", "level", "active")
    search_fields = ("text", "note")
    fields = ("kind", "category", "level", "text", "note", "active", *VersionedContentAdmin.readonly_fields)


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


@admin.register(SafetyFlag)
class SafetyFlagAdmin(admin.ModelAdmin):
    list_display = ("conversation_link", "level", "category_list", "created_at", "state", "handled_by")
    list_filter = (OpenFilter, "level")
    ordering = ("handled_at", "-created_at")  # open flags (no handled_at) first
    actions = ["mark_handled"]
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
        return render(request, "admin/safety/safetyflag/handle.html", {
            **self.admin_site.each_context(request), "title": "Mark safety flags handled",
            "flags": queryset, "form": form, "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })


@admin.register(OutputReplacement)
class OutputReplacementAdmin(admin.ModelAdmin):
    list_display = ("created_at", "provider", "model_name", "categories", "conversation")
    list_filter = ("provider", "model_name")
    readonly_fields = [f.name for f in OutputReplacement._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
