"""Evidence before a promotion.

* ``version_evaluate``: when a version becomes ready, the evaluation prompt set is answered by
  the candidate, the active version and the hosted model (Groq); replies, their length,
  latency and the output screen's verdict are stored side by side (a background task on the
  default cluster: it asks the inference server, it loads no model itself).
* ``shadow_reply_generate``: in shadow mode, after Groq answered a patient, the candidate
  answers the same prompt in the background; the pair is stored for clinicians to rate blind,
  and never shown to the patient.
"""

from __future__ import annotations

import logging
import random
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.providers.base import ChatProvider, ProviderError, provider_complete_sync
from conversations.providers.groq import groq_provider
from conversations.safety.screening import screen_output
from therapist_ai.audit import audit_record
from training.models import (
    EvalPrompt,
    EvalReply,
    ModelVersion,
    ServingState,
    ShadowRating,
    ShadowReply,
    VersionEvaluation,
)
from training.serving.provider import local_provider
from training.serving.state import serving_state_get, serving_view

logger = logging.getLogger("training.evaluation")


class RatingError(Exception):
    """A rating that cannot be recorded; the message says why."""


def _ask(provider: ChatProvider, prompt: list[dict]) -> dict:
    """One reply, screened: {content, error, latency_ms, output_safe, output_categories}."""
    started = time.monotonic()
    try:
        completion = provider_complete_sync(provider, prompt)
    except ProviderError as exc:
        return {"content": "", "error": exc.reason[:500], "latency_ms": int((time.monotonic() - started) * 1000),
                "output_safe": True, "output_categories": []}
    output = screen_output(completion.text)
    return {"content": completion.text, "error": "", "latency_ms": completion.latency_ms or
            int((time.monotonic() - started) * 1000), "output_safe": output.safe,
            "output_categories": list(output.categories)}


def _summary(replies: list[EvalReply]) -> dict:
    out = {}
    for responder in EvalReply.Responder.values:
        mine = [r for r in replies if r.responder == responder]
        answered = [r for r in mine if not r.error]
        if not mine:
            continue
        out[responder] = {
            "replies": len(answered), "errors": len(mine) - len(answered),
            "mean_length": round(sum(len(r.content) for r in answered) / len(answered)) if answered else None,
            "mean_latency_ms": round(sum(r.latency_ms or 0 for r in answered) / len(answered)) if answered else None,
            "unsafe": sum(not r.output_safe for r in answered),
        }
    return out


def version_evaluation_request(*, version: ModelVersion) -> VersionEvaluation:
    """Queue the evaluation of a new version (after commit, ids only)."""
    evaluation, _ = VersionEvaluation.objects.get_or_create(version=version)
    transaction.on_commit(lambda: _enqueue("training.tasks.version_evaluate", version.pk))
    return evaluation


def _enqueue(func: str, *args) -> None:
    from therapist_ai.queueing import task_enqueue

    task_enqueue(func, *args)


def version_evaluate(*, version_id: int) -> VersionEvaluation | None:
    """Answer every active evaluation prompt with the candidate, the active version and Groq."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None
    evaluation, _ = VersionEvaluation.objects.get_or_create(version=version)
    if evaluation.status == VersionEvaluation.Status.DONE:
        return evaluation
    state = serving_state_get()
    active = state.active_version if state.active_version_id != version.pk else None
    hosted = groq_provider()
    VersionEvaluation.objects.filter(pk=evaluation.pk).update(
        status=VersionEvaluation.Status.RUNNING, active_version=active.name if active else "",
        hosted_model=hosted.model)
    responders = [(EvalReply.Responder.CANDIDATE, local_provider(version.name), version.name)]
    if active is not None:
        responders.append((EvalReply.Responder.ACTIVE, local_provider(active.name), active.name))
    responders.append((EvalReply.Responder.HOSTED, hosted, hosted.model))
    replies = []
    try:
        for prompt in EvalPrompt.objects.filter(active=True):
            messages = [{"role": "system", "content": settings.THERAPIST_SYSTEM_PROMPT},
                        {"role": "user", "content": prompt.text}]
            for responder, provider, name in responders:
                replies.append(EvalReply(evaluation=evaluation, prompt=prompt, prompt_text=prompt.text,
                                         responder=responder, model_name=name, **_ask(provider, messages)))
        EvalReply.objects.filter(evaluation=evaluation).delete()
        EvalReply.objects.bulk_create(replies)
        VersionEvaluation.objects.filter(pk=evaluation.pk).update(
            status=VersionEvaluation.Status.DONE, summary=_summary(replies), finished_at=timezone.now(), error="")
    except Exception as exc:
        logger.exception("Evaluation of %s failed", version.name)
        VersionEvaluation.objects.filter(pk=evaluation.pk).update(
            status=VersionEvaluation.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now())
    evaluation.refresh_from_db()
    return evaluation


# --- shadow mode ----------------------------------------------------------------------------


def shadow_reply_request(*, patient_message_id: int, reply_id: int, provider: str) -> None:
    """After Groq answered a patient in shadow mode: queue the candidate's reply (ids only)."""
    view = serving_view()
    if view.mode != ServingState.Mode.SHADOW or not view.shadow_version_id or provider != "groq":
        return
    _enqueue("training.tasks.shadow_reply_generate", patient_message_id, reply_id, view.shadow_version_id)


def shadow_reply_generate(*, patient_message_id: int, reply_id: int, version_id: int) -> ShadowReply | None:
    """The candidate answers the same prompt the patient's reply was made from; stored, never shown."""
    from conversations.models import Message
    from conversations.safety.verdicts import InputScreen
    from conversations.services.turns import prompt_build

    patient_message = Message.objects.filter(pk=patient_message_id, role=Message.Role.PATIENT).first()
    version = ModelVersion.objects.filter(pk=version_id, status=ModelVersion.Status.READY).first()
    if patient_message is None or version is None:
        return None  # erased since, or the candidate was retired
    screen = InputScreen(patient_message.safety_level, tuple(patient_message.safety_categories or ()))
    answer = _ask(local_provider(version.name), prompt_build(patient_message, screen))
    try:
        return ShadowReply.objects.create(patient_message=patient_message, hosted_reply_id=reply_id, version=version,
                                          candidate_first=random.random() < 0.5, **answer)
    except IntegrityError:
        return None  # a redelivered task: the pair is already stored


def shadow_pair(shadow: ShadowReply) -> dict:
    """What a rater sees: the patient's message and two replies labelled A and B, order random."""
    hosted = shadow.hosted_reply.content if shadow.hosted_reply else ""
    first, second = (shadow.content, hosted) if shadow.candidate_first else (hosted, shadow.content)
    return {"id": shadow.pk, "patient_message": shadow.patient_message.content, "A": first, "B": second}


def shadow_pair_rate(*, shadow: ShadowReply, clinician, choice: str, note: str = "") -> ShadowRating:
    """Record a blind rating; returns it with ``preferred`` revealed (candidate, hosted or same)."""
    if choice not in ShadowRating.Choice.values:
        raise RatingError(f"Choose A, B or same, not {choice!r}.")
    if choice == ShadowRating.Choice.SAME:
        preferred = "same"
    else:
        candidate_is_a = shadow.candidate_first
        preferred = "candidate" if (choice == "A") == candidate_is_a else "hosted"
    try:
        with transaction.atomic():
            rating = ShadowRating.objects.create(shadow_reply=shadow, clinician=clinician, choice=choice,
                                                 preferred=preferred, note=note)
            audit_record(actor=clinician, action="shadow.rate", target_type="shadow_reply", target_id=shadow.pk,
                         after=preferred, detail={"version": shadow.version.name})
    except IntegrityError:
        raise RatingError("You have already rated this pair.") from None
    return rating


def shadow_ratings_summary(version: ModelVersion) -> dict:
    ratings = list(ShadowRating.objects.filter(shadow_reply__version=version).values_list("preferred", flat=True))
    return {"pairs": version.shadow_replies.count(), "ratings": len(ratings),
            "candidate": ratings.count("candidate"), "hosted": ratings.count("hosted"), "same": ratings.count("same")}
