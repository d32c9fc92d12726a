"""Every change to who answers patients: promote, roll back, retire, switch the mode, sign off,
and the automatic reverts (failure rate, erasure).

Each change is one transaction on the locked ``ServingState`` row that also appends the
``ServingChange`` (the promotion history) and an audit event. A version answers patients only
if it is ready, not trained on erased data, signed off by ``SERVING_SIGNOFFS_REQUIRED``
clinicians, its files match its manifest, and the inference server loaded it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from therapist_ai.audit import audit_record
from training.models import ModelVersion, ModelVersionSignOff, ServingChange, ServingState
from training.serving import inference
from training.serving.state import local_outcomes, serving_state_get, serving_view_forget
from training.versions import model_version_verify, model_versions_erasure_reconcile, version_files_check

logger = logging.getLogger("training.serving")
Mode, Action = ServingState.Mode, ServingChange.Action


class ServingError(Exception):
    """A serving change that cannot be made; the message says why, for people."""


# --- checks ---------------------------------------------------------------------------------


def serving_refusal(version: ModelVersion, *, signoffs: bool = True) -> str:
    """Why ``version`` may not answer patients ("" when it may), without touching its files."""
    if version.status != ModelVersion.Status.READY:
        return f"version {version.name} is {version.status}, not ready"
    if version.trained_on_erased_data:
        return f"version {version.name} was trained on data a patient has since erased"
    if version.verification_error:
        return f"version {version.name} failed its file check: {version.verification_error}"
    if signoffs:
        have, need = version.sign_offs.count(), settings.SERVING_SIGNOFFS_REQUIRED
        if have < need:
            return f"version {version.name} has {have} of the {need} clinician sign-offs it needs"
    return ""


def _loadable(version: ModelVersion) -> None:
    """Files verified and loaded by the inference server, or ``ServingError`` (outside any lock:
    loading can take seconds). A version whose files fail is marked failed."""
    ok, problem = model_version_verify(version=version)
    if not ok:
        raise ServingError(f"version {version.name} refused: {problem}")
    try:
        inference.version_load(name=version.name, path=version.path)
    except inference.InferenceUnavailable as exc:
        raise ServingError(f"version {version.name} cannot serve: {exc}") from exc


# --- the one write path ---------------------------------------------------------------------


def _change(state: ServingState, *, action: str, actor, reason: str, mode: str,
            active: ModelVersion | None, shadow: ModelVersion | None, alert: str = "") -> ServingState:
    """Apply a change to the locked row, append it to the history, audit it; after commit every
    process of this one forgets its cached view (others follow within ``SERVING_STATE_TTL``)."""
    entry = ServingChange(
        action=action, actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=actor.get_username() if getattr(actor, "is_authenticated", False) else "system",
        from_mode=state.mode, to_mode=mode,
        from_version=state.active_version.name if state.active_version else "",
        to_version=active.name if active else "", shadow_version=shadow.name if shadow else "",
        reason=reason[:2000],
    )
    state.mode, state.active_version, state.shadow_version = mode, active, shadow
    state.revision += 1
    state.changed_at = timezone.now()
    state.changed_by = entry.actor
    state.alert, state.alert_at = (alert[:500], state.changed_at) if alert else ("", None)
    state.save()
    entry.save()
    audit_record(actor=entry.actor, action=f"serving.{action}", target_type="serving", target_id=1,
                 before=entry.from_version or entry.from_mode, after=entry.to_version or entry.to_mode,
                 detail={"mode": mode, "shadow": entry.shadow_version})
    transaction.on_commit(serving_view_forget)
    return state


def _locked_state() -> ServingState:
    serving_state_get()  # make the row if it is not there yet
    return ServingState.objects.select_for_update(of=("self",)).select_related("active_version", "shadow_version").get(id=1)


def _fresh(version: ModelVersion) -> ModelVersion:
    return ModelVersion.objects.select_for_update().get(pk=version.pk)


# --- staff actions --------------------------------------------------------------------------


def model_version_promote(*, version: ModelVersion, actor, reason: str = "") -> ServingState:
    """The version answers patients from the next message on (mode ``local``)."""
    refusal = serving_refusal(version)
    if refusal:
        raise ServingError(refusal)
    _loadable(version)
    with transaction.atomic():
        state = _locked_state()
        version = _fresh(version)
        refusal = serving_refusal(version)  # an erasure or a retirement may have come in between
        if refusal:
            raise ServingError(refusal)
        shadow = None if state.shadow_version_id == version.pk else state.shadow_version
        state = _change(state, action=Action.PROMOTE, actor=actor, reason=reason, mode=Mode.LOCAL,
                        active=version, shadow=shadow)
    logger.info("Serving: version %s promoted by %s", version.name, getattr(actor, "username", "system"))
    return state


def _previous_servable(state: ServingState, *, excluding: set[int]) -> ModelVersion | None:
    """The most recent earlier active version that may still serve (newest first). A version
    serving was rolled back (or reverted) from is never chosen again by a rollback."""
    history = list(ServingChange.objects.order_by("-created_at", "-id").values_list("action", "from_version",
                                                                                     "to_version"))
    left = {old for action, old, _new in history if action in (Action.ROLLBACK, Action.AUTO_REVERT) and old}
    seen = set(left)
    for _action, _old, name in history:
        if not name or name in seen:
            continue
        seen.add(name)
        version = ModelVersion.objects.filter(name=name).exclude(pk__in=excluding).first()
        if version is not None and not serving_refusal(version) and not version_files_check(version):
            return version
    return None


def serving_rollback(*, actor, reason: str = "") -> ServingState:
    """Back to the previous active version in one action; to ``hosted`` when there is none."""
    state = serving_state_get()
    if state.active_version is None:
        raise ServingError("No version is active, so there is nothing to roll back.")
    previous = _previous_servable(state, excluding={state.active_version_id})
    if previous is not None:
        try:
            inference.version_load(name=previous.name, path=previous.path)
        except inference.InferenceUnavailable as exc:
            logger.warning("Rollback: previous version %s cannot load (%s); going to hosted", previous.name, exc)
            previous = None
    with transaction.atomic():
        state = _locked_state()
        mode = Mode.LOCAL if previous else Mode.HOSTED
        shadow = state.shadow_version if state.shadow_version_id != getattr(previous, "pk", None) else None
        return _change(state, action=Action.ROLLBACK, actor=actor, reason=reason, mode=mode,
                       active=previous, shadow=shadow)


def serving_mode_set(*, mode: str, actor, reason: str = "", shadow_version: ModelVersion | None = None) -> ServingState:
    """Switch the mode. ``local`` needs a servable active version; ``shadow`` a ready, verified
    candidate other than the active one (it is never shown, so it needs no sign-off)."""
    if mode not in Mode.values:
        raise ServingError(f"Unknown mode {mode!r}: use hosted, local or shadow.")
    state = serving_state_get()
    candidate = shadow_version or state.shadow_version
    if mode == Mode.LOCAL:
        if state.active_version is None:
            raise ServingError("No version is active yet: promote a version first.")
        refusal = serving_refusal(state.active_version)
        if refusal:
            raise ServingError(refusal)
        _loadable(state.active_version)
    if mode == Mode.SHADOW or shadow_version is not None:
        if candidate is None:
            raise ServingError("Shadow mode needs a candidate version.")
        refusal = serving_refusal(candidate, signoffs=False)
        if refusal:
            raise ServingError(refusal)
        if candidate.pk == state.active_version_id:
            raise ServingError(f"Version {candidate.name} already answers patients; shadow another one.")
        _loadable(candidate)
    with transaction.atomic():
        state = _locked_state()
        action = Action.SHADOW if shadow_version is not None and mode == Mode.SHADOW else Action.MODE
        return _change(state, action=action, actor=actor, reason=reason, mode=mode, active=state.active_version,
                       shadow=candidate if mode == Mode.SHADOW else state.shadow_version)


def model_version_retire(*, version: ModelVersion, actor, reason: str = "") -> ModelVersion:
    """Never serves again. If it is active, serving goes back to the previous version (or hosted)."""
    with transaction.atomic():
        version = _fresh(version)
        if version.status == ModelVersion.Status.RETIRED:
            raise ServingError(f"Version {version.name} is already retired.")
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.RETIRED, retired_at=timezone.now())
        version.refresh_from_db()
        audit_record(actor=actor, action="model_version.retire", target_type="model_version", target_id=version.pk,
                     detail={"name": version.name})
    _leave_versions({version.pk}, action=Action.RETIRE, actor=actor, reason=reason or f"{version.name} retired")
    return version


def serving_alert_acknowledge(*, actor) -> None:
    ServingState.objects.filter(id=1).update(alert="", alert_at=None)
    audit_record(actor=actor, action="serving.alert_acknowledged", target_type="serving", target_id=1)


# --- clinicians -----------------------------------------------------------------------------


def model_version_sign_off(*, version: ModelVersion, clinician, note: str = "") -> ModelVersionSignOff:
    """A clinician judges the version fit to answer patients (once per clinician)."""
    if version.status != ModelVersion.Status.READY:
        raise ServingError(f"Version {version.name} is {version.status}; only ready versions can be signed off.")
    try:
        with transaction.atomic():
            sign_off = ModelVersionSignOff.objects.create(version=version, clinician=clinician,
                                                          clinician_label=clinician.get_username(), note=note)
            audit_record(actor=clinician, action="model_version.sign_off", target_type="model_version",
                         target_id=version.pk, detail={"name": version.name})
    except IntegrityError:
        raise ServingError(f"You have already signed off version {version.name}.") from None
    return sign_off


# --- automatic ------------------------------------------------------------------------------


def _leave_versions(version_ids: set[int], *, action: str, actor=None, reason: str, alert: str = "") -> bool:
    """Stop serving these versions: the active one gives way to the previous servable version (or
    hosted), the shadow one is dropped. Returns whether anything changed."""
    state = serving_state_get()
    leaving_active = state.active_version_id in version_ids
    leaving_shadow = state.shadow_version_id in version_ids
    if not (leaving_active or leaving_shadow):
        return False
    previous = _previous_servable(state, excluding=version_ids | {state.active_version_id}) if leaving_active else None
    if previous is not None:
        try:
            inference.version_load(name=previous.name, path=previous.path)
        except inference.InferenceUnavailable:
            previous = None
    with transaction.atomic():
        state = _locked_state()
        active = (previous if state.active_version_id in version_ids else state.active_version)
        shadow = None if state.shadow_version_id in version_ids else state.shadow_version
        if state.mode == Mode.SHADOW and shadow is None:
            mode = Mode.LOCAL if active else Mode.HOSTED
        elif state.mode == Mode.LOCAL and active is None:
            mode = Mode.HOSTED
        else:
            mode = state.mode
        _change(state, action=action, actor=actor, reason=reason, mode=mode, active=active, shadow=shadow,
                alert=alert)
    logger.warning("Serving changed (%s): %s; now %s%s", action, reason, mode,
                   f" with {active.name}" if active else "")
    return True


def serving_on_erasure(*, version_ids: list[int]) -> bool:
    """Versions were just marked as trained on erased data: none of them may keep serving."""
    if not version_ids:
        return False
    names = ", ".join(ModelVersion.objects.filter(pk__in=version_ids).values_list("name", flat=True))
    return _leave_versions(set(version_ids), action=Action.ERASURE,
                           reason=f"a patient erased data that {names} was trained on",
                           alert=f"Serving changed by itself: {names} was trained on data a patient erased.")


def serving_erasure_reconcile() -> list[int]:
    """Every version against every erasure record (periodic); those newly marked stop serving."""
    marked = model_versions_erasure_reconcile()
    serving_on_erasure(version_ids=marked)
    return marked


def serving_failure_check() -> bool:
    """Revert to hosted when local failures and output-screen replacements pass
    ``SERVING_REVERT_MAX_RATE`` of local attempts in the last ``SERVING_REVERT_WINDOW`` seconds."""
    state = serving_state_get()
    if state.mode != Mode.LOCAL or state.active_version is None:
        return False
    since = max(timezone.now() - timedelta(seconds=settings.SERVING_REVERT_WINDOW),
                state.changed_at or timezone.now() - timedelta(seconds=settings.SERVING_REVERT_WINDOW))
    seen = local_outcomes(since=since)
    bad = seen["fallbacks"] + seen["replaced"]
    if seen["attempts"] < settings.SERVING_REVERT_MIN_REQUESTS or bad <= settings.SERVING_REVERT_MAX_RATE * seen["attempts"]:
        return False
    reason = (f"{bad} of {seen['attempts']} local replies failed or were replaced by the output screen in the "
              f"last {settings.SERVING_REVERT_WINDOW} s (limit {settings.SERVING_REVERT_MAX_RATE:.0%})")
    with transaction.atomic():
        state = _locked_state()
        if state.mode != Mode.LOCAL:
            return False
        name = state.active_version.name if state.active_version else "?"
        _change(state, action=Action.AUTO_REVERT, actor=None, reason=reason, mode=Mode.HOSTED,
                active=state.active_version, shadow=state.shadow_version,
                alert=f"Serving reverted to hosted by itself: version {name}: {reason}.")
    logger.error("Serving reverted to hosted automatically: version %s: %s", name, reason)
    return True
