"""Staff watch training runs and model versions here; "Train now" starts a run.

Read-only views over ``training.models``; every change goes through ``training.services`` (runs)
or ``training.serving.services`` (versions: verify, sign off, promote, shadow, retire).
Clinicians see model versions (to read the evidence and sign off), not training runs.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from therapist_ai.admin import ReadOnlyAdmin
from training import charts, selectors, services, versions
from training.models import ModelVersion, TrainingRun
from training.selectors import evidence_context
from training.serving import admin as serving_admin  # noqa: F401  (registers the serving pages)
from training.serving import services as serving_services
from training.serving.state import serving_state_get


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = int(value)
    return f"{value // 3600}h {value % 3600 // 60:02d}m" if value >= 3600 else f"{value // 60}m {value % 60:02d}s"


def can_start_training(user) -> bool:
    return bool(user.is_active and user.has_perm("training.start_training_run"))


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "status", "trigger", "examples_used", "progress", "eta", "duration",
                    "tokens_per_second_col", "created_at")
    list_filter = ("status", "trigger")
    change_list_template = "admin/training/trainingrun/change_list.html"
    fields = ("status", "trigger", "requested_by", "pending_messages", "attempts", "examples_used", "progress",
              "eta", "duration", "tokens_per_second_col", "device", "loss_curve", "model_version_link",
              "created_at", "started_at", "heartbeat_at", "finished_at", "error")
    readonly_fields = fields

    class Media:
        js = ("training/live.js",)

    def get_urls(self):
        return [
            path("train-now/", self.admin_site.admin_view(self.train_now_view), name="training_trainingrun_train_now"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_start_training": can_start_training(request.user),
                 "active_run": selectors.training_run_active(),
                 "training_progress": selectors.training_progress()}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def train_now_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_start_training(request.user):
            raise PermissionDenied
        try:
            run = services.training_run_now(requested_by=request.user)
        except services.TrainingAlreadyActive as exc:
            self.message_user(request, f"{exc} Wait for it to finish.", messages.WARNING)
        else:
            self.message_user(request, f"Training run {run.pk} queued; it starts on the training worker.")
        return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))

    @admin.display(description="examples used")
    def examples_used(self, run):
        snap = run.snapshot
        return f"{snap.example_count} conversations ({snap.train_count} train / {snap.eval_count} eval)" if snap else "-"

    @admin.display(description="progress")
    def progress(self, run):
        return charts.progress_bar(run.progress_percent, f"{run.progress_step}/{run.progress_total or '?'}")

    @admin.display(description="ETA")
    def eta(self, run):
        return _seconds(run.eta_seconds)

    @admin.display(description="duration")
    def duration(self, run):
        return _seconds(run.duration_seconds)

    @admin.display(description="tokens/s")
    def tokens_per_second_col(self, run):
        return f"{run.tokens_per_second:,.0f}" if run.tokens_per_second else "-"

    @admin.display(description="loss curve")
    def loss_curve(self, run):
        return charts.loss_curve_svg(run.loss_history)

    @admin.display(description="model version")
    def model_version_link(self, run):
        version = getattr(run, "model_version", None)
        if version is None:
            return "-"
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:training_modelversion_change", args=[version.pk]), version.name)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Versions with the evidence staff compare (metrics, evaluation replies side by side, loss
    curve, sign-offs, shadow ratings) and the actions: verify, sign off, promote, shadow, retire."""

    list_display = ("name", "status", "serving", "files_verified", "sign_off_count", "eval_loss", "base_eval_loss",
                    "eval_perplexity", "base_eval_perplexity", "erased_data", "run", "created_at")
    list_filter = ("status", "trained_on_erased_data")
    fields = ("name", "status", "serving_refusal", "files_verified", "evidence", "loss_curve", "path", "base_model",
              "hyperparameters", "run", "dataset", "trained_on_erased_data", "erasure_record_ids", "created_at",
              "lineage")
    readonly_fields = fields
    actions = ["verify_files", "sign_off", "promote", "use_as_shadow_candidate", "retire"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run", "snapshot").prefetch_related("sign_offs")

    def get_actions(self, request):
        actions = super().get_actions(request)
        allowed = {"verify_files": "training.promote_modelversion", "promote": "training.promote_modelversion",
                   "use_as_shadow_candidate": "training.promote_modelversion",
                   "retire": "training.promote_modelversion", "sign_off": "training.sign_off_modelversion"}
        return {name: a for name, a in actions.items()
                if name not in allowed or request.user.has_perm(allowed[name])}

    def _serving_call(self, request, queryset, call, done: str, *, single: bool = False):
        if single and queryset.count() != 1:
            self.message_user(request, "Choose exactly one version.", messages.ERROR)
            return
        for version in queryset:
            try:
                call(version)
            except serving_services.ServingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, done.format(version=version.name), messages.SUCCESS)

    @admin.action(description="Check files against the manifest")
    def verify_files(self, request, queryset):
        for version in queryset:
            ok, reason = versions.model_version_verify(version=version)
            self.message_user(request, f"{version.name}: files match the manifest." if ok
                              else f"{version.name}: {reason} (it can no longer serve).",
                              messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Sign off as fit to answer patients")
    def sign_off(self, request, queryset):
        self._serving_call(request, queryset, lambda v: serving_services.model_version_sign_off(
            version=v, clinician=request.user), "You signed off {version}.")

    @admin.action(description="Promote: this version answers patients")
    def promote(self, request, queryset):
        self._serving_call(request, queryset, lambda v: serving_services.model_version_promote(
            version=v, actor=request.user, reason="promoted from the admin"),
            "{version} answers patients from the next message on.", single=True)

    @admin.action(description="Shadow: answer in the background for rating")
    def use_as_shadow_candidate(self, request, queryset):
        self._serving_call(request, queryset, lambda v: serving_services.serving_mode_set(
            mode="shadow", actor=request.user, reason="shadow candidate from the admin", shadow_version=v),
            "{version} now answers in the background (shadow mode).", single=True)

    @admin.action(description="Retire (never serves again)")
    def retire(self, request, queryset):
        self._serving_call(request, queryset, lambda v: serving_services.model_version_retire(
            version=v, actor=request.user, reason="retired from the admin"), "{version} retired.")

    @admin.display(description="serving")
    def serving(self, version):
        state = serving_state_get()
        if state.active_version_id == version.pk:
            return "active" if state.mode == "local" else f"active ({state.mode} mode)"
        return "shadow candidate" if state.shadow_version_id == version.pk else ""

    @admin.display(description="files match manifest")
    def files_verified(self, version):
        """The last explicit check (the action, a promotion, the background check): no file is read here."""
        if version.verified_at is None:
            return "not checked yet"
        if version.verification_error:
            return format_html('<strong class="errornote">no: {}</strong>', version.verification_error)
        return f"yes ({version.verified_at:%Y-%m-%d %H:%M})"

    @admin.display(description="sign-offs")
    def sign_off_count(self, version):
        return f"{len(version.sign_offs.all())} of {django_settings.SERVING_SIGNOFFS_REQUIRED}"

    @admin.display(description="may answer patients?")
    def serving_refusal(self, version):
        refusal = serving_services.serving_refusal(version)
        return "yes" if not refusal else refusal

    @admin.display(description="loss curve")
    def loss_curve(self, version):
        return charts.loss_curve_svg(version.run.loss_history)

    @admin.display(description="evidence")
    def evidence(self, version):
        return render_to_string("admin/training/_version_evidence.html", evidence_context(version))

    def _metric(self, version, key):
        value = (version.metrics or {}).get(key)
        return "-" if value is None else value

    @admin.display(description="eval loss")
    def eval_loss(self, version):
        return self._metric(version, "eval_loss")

    @admin.display(description="base eval loss")
    def base_eval_loss(self, version):
        return self._metric(version, "base_eval_loss")

    @admin.display(description="perplexity")
    def eval_perplexity(self, version):
        return self._metric(version, "eval_perplexity")

    @admin.display(description="base perplexity")
    def base_eval_perplexity(self, version):
        return self._metric(version, "base_eval_perplexity")

    @admin.display(description="trained on erased data", boolean=True)
    def erased_data(self, version):
        return version.trained_on_erased_data

    @admin.display(description="metrics")
    def metrics_table(self, version):
        return format_html("<table>{}</table>", format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", sorted((version.metrics or {}).items())))

    @admin.display(description="dataset")
    def dataset(self, version):
        snap = version.snapshot
        return (f"{snap.example_count} conversations, {snap.message_count} messages "
                f"({snap.train_count} train / {snap.eval_count} eval), sha256 {snap.content_hash}")

    @admin.display(description="trained on (lineage)")
    def lineage(self, version):
        rows = []
        for example in selectors.model_version_lineage(version):
            try:
                url = reverse("admin:clinicians_transcript_change", args=[example["conversation_id"]])
            except NoReverseMatch:
                url = ""
            rows.append((url, example["conversation_id"], example["split"], len(example["message_ids"]),
                         ", ".join(str(m) for m in example["message_ids"]), example["redaction_hash"][:16]))
        body = format_html_join(
            "", '<tr><td><a href="{}">conversation {}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>', rows)
        return format_html(
            '<table class="training-lineage"><tr><th>conversation</th><th>split</th><th>messages</th>'
            "<th>message ids</th><th>redaction hash</th></tr>{}</table>", body)
