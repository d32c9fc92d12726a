"""Serving in the admin: the serving page (mode, rollback, alert), the promotion history, the
evaluation prompt set, and shadow pairs that clinicians rate blind.

Thin: every change is a ``training.serving.services`` (or ``training.evaluation``) call, the
same the API makes; the admin asks the same model permissions as the API.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from therapist_ai.admin import ReadOnlyAdmin
from training.evaluation import RatingError, shadow_pair, shadow_pair_rate
from training.models import EvalPrompt, ModelVersion, ServingChange, ServingState, ShadowRating, ShadowReply
from training.serving import inference, services
from training.serving.state import serving_summary

CAN_CHANGE = ("training.change_servingstate", "training.promote_modelversion")


def can_change_serving(user) -> bool:
    return user.is_active and user.has_perms(CAN_CHANGE)


@admin.register(ServingState)
class ServingStateAdmin(admin.ModelAdmin):
    """One page: who answers patients, the failure counts, the switches, the recent history."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.serving_view), name="training_servingstate_changelist"),
                path("<path:object_id>/change/", self.admin_site.admin_view(self.serving_view),
                     name="training_servingstate_change")]

    def serving_view(self, request, object_id=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request)
        summary = serving_summary()
        context = {
            **self.admin_site.each_context(request), "title": "Serving", "opts": self.model._meta,
            "summary": summary, "state": summary["state"], "modes": ServingState.Mode.choices,
            "can_change": can_change_serving(request.user),
            "candidates": ModelVersion.objects.filter(status=ModelVersion.Status.READY,
                                                      trained_on_erased_data=False),
            "history": ServingChange.objects.all()[:20], "inference": inference.server_health(),
        }
        return TemplateResponse(request, "admin/training/serving.html", context)

    def _act(self, request):
        if not can_change_serving(request.user):
            raise PermissionDenied
        reason, what = request.POST.get("reason", "").strip(), request.POST.get("action")
        try:
            if what == "rollback":
                state = services.serving_rollback(actor=request.user, reason=reason)
                done = f"Rolled back: {state.active_version or 'hosted (Groq)'} answers patients now."
            elif what == "acknowledge":
                services.serving_alert_acknowledge(actor=request.user)
                done = "Alert acknowledged."
            else:
                shadow_id = request.POST.get("shadow_version") or None
                shadow = ModelVersion.objects.filter(pk=shadow_id).first() if shadow_id else None
                state = services.serving_mode_set(mode=request.POST.get("mode", ""), actor=request.user,
                                                  reason=reason, shadow_version=shadow)
                done = f"Serving mode is now {state.get_mode_display()}."
        except services.ServingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:training_servingstate_changelist"))


@admin.register(ServingChange)
class ServingChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor_label", "from_mode", "to_mode", "from_version", "to_version",
                    "shadow_version", "reason")
    list_filter = ("action",)


@admin.register(EvalPrompt)
class EvalPromptAdmin(admin.ModelAdmin):
    list_display = ("text", "note", "position", "active", "updated_at")
    list_editable = ("position", "active")
    list_filter = ("active",)


@admin.register(ShadowReply)
class ShadowReplyAdmin(ReadOnlyAdmin):
    """Shadow pairs. Opening one as a rater shows it blind (A/B, random order); the answer is
    revealed after rating."""

    list_display = ("created_at", "version", "rated_by_you", "ratings_count", "output_safe")
    list_filter = ("version",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version").prefetch_related("ratings")

    @admin.display(description="rated by you", boolean=True)
    def rated_by_you(self, obj):
        return any(r.clinician_id == self._user_id for r in obj.ratings.all())

    @admin.display(description="ratings")
    def ratings_count(self, obj):
        return len(obj.ratings.all())

    def changelist_view(self, request, extra_context=None):
        self._user_id = request.user.pk
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shadow = get_object_or_404(ShadowReply.objects.select_related("patient_message", "hosted_reply", "version"),
                                   pk=object_id)
        can_rate = request.user.has_perm("training.rate_shadowreply")
        if not (can_rate or self.has_view_permission(request, shadow)):
            raise PermissionDenied
        mine = ShadowRating.objects.filter(shadow_reply=shadow, clinician=request.user).first()
        if request.method == "POST" and can_rate and mine is None:
            try:
                mine = shadow_pair_rate(shadow=shadow, clinician=request.user, choice=request.POST.get("choice", ""),
                                        note=request.POST.get("note", ""))
            except RatingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        context = {**self.admin_site.each_context(request), "title": "Rate a shadow pair", "opts": self.model._meta,
                   "pair": shadow_pair(shadow), "shadow": shadow, "rating": mine, "can_rate": can_rate,
                   "choices": ShadowRating.Choice.choices}
        return TemplateResponse(request, "admin/training/shadow_rate.html", context)
