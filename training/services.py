"""Every write about training: requesting, claiming, executing and reaping runs; versions.

The run's state lives here; the heavy lifting is ``training.pipeline.adapter_train`` (a
plain function, imported only inside ``training_run_execute`` so the web process never
loads torch). Tasks are queued after commit with ids only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from therapist_ai.audit import audit_record
from training import storage
from training.errors import PipelineError
from training.models import DatasetSnapshot, ModelVersion, TrainingRun
from training.selectors import base_model_path, last_run_cutoff
from training.versions import version_erasures_apply

logger = logging.getLogger("training")


class TrainingAlreadyActive(Exception):
    """A run is already queued or running; only one at a time."""

    def __init__(self, run: TrainingRun | None):
        self.run = run
        super().__init__(
            f"Training run {run.pk} is already {run.status}; only one run at a time."
            if run else "A training run is already queued or running; only one run at a time."
        )


class RunAborted(Exception):
    """The run stopped being ours (the reaper failed it); stop training."""


# ----------------------------------------------------------------------------- requesting


def training_run_request(*, trigger: str, requested_by=None, pending_messages: int = 0,
                         enqueue: bool = True) -> TrainingRun:
    """Create a queued run and queue its task after commit. Raises TrainingAlreadyActive.

    ``enqueue=False``: the caller executes the run itself (``manage.py train``)."""
    training_runs_reap()
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                trigger=trigger, requested_by=requested_by, pending_messages=pending_messages
            )
            if trigger == TrainingRun.Trigger.MANUAL:
                audit_record(actor=requested_by, action="training_run.request", target_type="training_run",
                             target_id=run.pk, detail={"trigger": run.trigger})
    except IntegrityError:
        raise TrainingAlreadyActive(TrainingRun.objects.active().first()) from None
    if enqueue:
        transaction.on_commit(lambda: training_run_enqueue(run_id=run.pk))
    return run


def training_run_enqueue(*, run_id: int) -> None:
    """Queue the run on the training cluster (kept in the outbox while the broker is down)."""
    from therapist_ai.queueing import task_enqueue

    task_enqueue("training.tasks.training_run_execute", run_id, cluster=settings.TRAINING_CLUSTER,
                 task_name=f"training-run-{run_id}")


def training_threshold_check(*, source: str = "approval") -> TrainingRun | None:
    """Start an automatic run when enough approved messages have accumulated."""
    if not settings.ENABLE_AUTO_TRAINING:
        return None
    if TrainingRun.objects.active().exists():
        return None
    from clinicians.training_set import training_message_count

    pending = training_message_count(approved_after=last_run_cutoff())
    if pending < settings.AUTO_TRAIN_THRESHOLD:
        return None
    try:
        run = training_run_request(trigger=TrainingRun.Trigger.AUTO, pending_messages=pending)
    except TrainingAlreadyActive:
        return None  # another approval crossed the threshold at the same moment
    logger.info("Auto-triggering training (%d new messages)...", pending)
    return run


# ----------------------------------------------------------------------------- executing


def training_run_claim(*, run_id: int) -> bool:
    """queued -> running, exactly once: a second delivery of the task finds nothing to claim."""
    now = timezone.now()
    return bool(
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
        )
    )


def training_run_fail(*, run_id: int, error: str, only_if_status: tuple = TrainingRun.ACTIVE_STATUSES) -> bool:
    done = TrainingRun.objects.filter(pk=run_id, status__in=only_if_status).update(
        status=TrainingRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )
    storage.staging_dirs_remove(settings.MODEL_STORAGE_DIR, run_id=run_id)
    return bool(done)


def training_runs_reap() -> list[int]:
    """Fail runs whose worker died (stale heartbeat) or whose task was lost; clean their files."""
    now = timezone.now()
    reaped = []
    stale = TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=settings.TRAIN_HEARTBEAT_TIMEOUT),
    )
    for run in stale:
        msg = (f"The training worker stopped responding (last heartbeat {run.heartbeat_at:%Y-%m-%d %H:%M:%S} "
               f"UTC); the run was abandoned and no model version was created.")
        if training_run_fail(run_id=run.pk, error=msg, only_if_status=(TrainingRun.Status.RUNNING,)):
            reaped.append(run.pk)
    lost = TrainingRun.objects.filter(
        status=TrainingRun.Status.QUEUED,
        created_at__lt=now - timedelta(seconds=settings.TRAIN_QUEUE_TIMEOUT),
    )
    for run in lost:
        msg = "No training worker picked this run up in time; is the training cluster running?"
        if training_run_fail(run_id=run.pk, error=msg, only_if_status=(TrainingRun.Status.QUEUED,)):
            reaped.append(run.pk)
    for run_id in reaped:
        logger.warning("Training run %s failed by the reaper", run_id)
    return reaped


def split_assign(conversation_ids: list[int], fraction: float) -> dict[int, str]:
    """Held-out conversations: the ``round(n * fraction)`` (at least one when n >= 2) whose
    hashed ids come first. Deterministic, exact in size, and whole conversations only."""
    ranked = sorted(conversation_ids, key=lambda cid: hashlib.sha256(f"eval:{cid}".encode()).hexdigest())
    n_eval = round(len(ranked) * fraction)
    n_eval = min(max(n_eval, 1 if len(ranked) >= 2 else 0), max(0, len(ranked) - 1))
    held_out = set(ranked[:n_eval])
    return {cid: "eval" if cid in held_out else "train" for cid in conversation_ids}


def dataset_snapshot_create(*, examples: list) -> DatasetSnapshot:
    """Freeze ids, redaction hashes and the train/eval split of the examples about to be used."""
    rows, digest = [], hashlib.sha256()
    splits = split_assign([ex.conversation_id for ex in examples], settings.TRAIN_EVAL_FRACTION)
    for ex in sorted(examples, key=lambda e: e.conversation_id):
        rows.append({"conversation_id": ex.conversation_id, "message_ids": list(ex.message_ids),
                     "redaction_hash": ex.redaction_hash, "split": splits[ex.conversation_id]})
        digest.update(json.dumps(ex.messages, sort_keys=True, ensure_ascii=False).encode())
    return DatasetSnapshot.objects.create(
        content_hash=digest.hexdigest(), example_count=len(rows),
        train_count=sum(r["split"] == "train" for r in rows),
        eval_count=sum(r["split"] == "eval" for r in rows),
        message_count=sum(len(r["message_ids"]) for r in rows), examples=rows,
    )


def train_schedule(train_conversations: int) -> tuple[float, int]:
    """(epochs, batch size): the settings when set; else 3 epochs in batches of 8, or one epoch in
    batches of 4 for a small set (``TRAIN_SMALL_SET``): on a CPU a run on the first hundred
    approved messages then ends in about two minutes, at a somewhat higher held-out perplexity."""
    small = train_conversations < settings.TRAIN_SMALL_SET
    epochs = settings.TRAIN_EPOCHS or (1.0 if small else 3.0)
    batch = settings.TRAIN_BATCH_SIZE or (4 if small else 8)
    return epochs, batch


def train_config(*, output_dir: Path, train_conversations: int = 0):
    from training.pipeline import TrainConfig

    targets = settings.TRAIN_LORA_TARGET_MODULES
    epochs, batch_size = train_schedule(train_conversations)
    return TrainConfig(
        base_model=base_model_path(), output_dir=output_dir, epochs=epochs,
        max_steps=settings.TRAIN_MAX_STEPS, learning_rate=settings.TRAIN_LEARNING_RATE,
        batch_size=batch_size, gradient_accumulation_steps=settings.TRAIN_GRADIENT_ACCUMULATION,
        max_length=settings.TRAIN_MAX_LENGTH, lora_r=settings.TRAIN_LORA_R, lora_alpha=settings.TRAIN_LORA_ALPHA,
        lora_dropout=settings.TRAIN_LORA_DROPOUT,
        lora_target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
        seed=settings.TRAIN_SEED, device=settings.TRAIN_DEVICE, threads=settings.TRAIN_TORCH_THREADS,
    )


class _Heartbeat:
    """Beats every TRAIN_HEARTBEAT_INTERVAL from a thread (covers model loading and evaluation,
    which report no steps); notices when the reaper took the run away."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-run-{run_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self):
        try:
            while not self._stop.wait(settings.TRAIN_HEARTBEAT_INTERVAL):
                if not _beat(self.run_id):
                    self.lost.set()
                    return
        finally:
            connection.close()


def _beat(run_id: int, **fields) -> bool:
    return bool(
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING)
        .update(heartbeat_at=timezone.now(), **fields)
    )


def _progress_writer(run_id: int, heartbeat: _Heartbeat, on_progress=None):
    last_write = [0.0]

    def write(progress) -> None:
        if heartbeat.lost.is_set():
            raise RunAborted("the run was failed while training (heartbeat lost)")
        if on_progress is not None:
            on_progress(progress)
        now = time.monotonic()
        if now - last_write[0] < 0.5 and progress.step < progress.total:
            return
        last_write[0] = now
        if not _beat(run_id, progress_step=progress.step, progress_total=progress.total,
                     loss_history=list(progress.history)):
            heartbeat.lost.set()
            raise RunAborted("the run was failed while training")

    return write


def training_run_execute(*, run_id: int, on_progress=None) -> ModelVersion | None:
    """Run a queued run to the end (worker task and ``manage.py train``). Never raises for
    a training failure: the run ends ``failed`` with the reason in ``error``."""
    training_runs_reap()
    if not training_run_claim(run_id=run_id):
        logger.info("Training run %s is not queued any more; nothing to do (duplicate delivery?)", run_id)
        return None
    started = time.monotonic()
    staging = None
    try:
        with _Heartbeat(run_id) as heartbeat:
            staging, snapshot, result = _train(run_id, heartbeat, on_progress)
            version = _publish(run_id, staging, snapshot, result)
    except Exception as exc:  # the run records every failure; the task itself succeeds
        logger.exception("Training run %s failed", run_id)
        training_run_fail(run_id=run_id, error=_describe(exc))
        return None
    logger.info("Training complete! (%.1f s)", time.monotonic() - started)
    logger.info("Model saved to: %s", version.path)
    return version


def _describe(exc: Exception) -> str:
    if isinstance(exc, storage.StorageError | PipelineError | RunAborted):
        return str(exc)
    if not isinstance(exc, OSError) and re.search(r"No space left on device|os error 28", str(exc)):
        # Writers outside Python (safetensors, tokenizers) report a full disk as a plain exception.
        exc = OSError(errno.ENOSPC, "No space left on device")
    if isinstance(exc, OSError):
        return str(storage.storage_error(exc, doing="training", path=Path(settings.MODEL_STORAGE_DIR)))
    return f"{type(exc).__name__}: {exc}"


def _train(run_id: int, heartbeat: _Heartbeat, on_progress):
    from clinicians.training_set import training_examples
    from training.pipeline import adapter_train

    examples = list(training_examples(consent_at_export=True))
    if not examples:
        raise PipelineError("there are no approved, consented training examples yet")
    snapshot = dataset_snapshot_create(examples=examples)
    TrainingRun.objects.filter(pk=run_id).update(snapshot=snapshot)
    split = {r["conversation_id"]: r["split"] for r in snapshot.examples}
    train = [e.messages for e in examples if split[e.conversation_id] == "train"]
    held_out = [e.messages for e in examples if split[e.conversation_id] == "eval"]
    del examples
    staging = storage.staging_dir_create(settings.MODEL_STORAGE_DIR, run_id=run_id)
    config = train_config(output_dir=staging, train_conversations=len(train))
    result = adapter_train(config, train, held_out, on_progress=_progress_writer(run_id, heartbeat, on_progress),
                           compare_with=_serving_version(config.base_model))
    if heartbeat.lost.is_set():
        raise RunAborted("the run was failed while training (heartbeat lost)")
    return staging, snapshot, (config, result)


def _serving_version(base_model: str) -> tuple[str, Path] | None:
    """The version answering patients now, if it was trained on the same base (to compare with)."""
    from training.serving.state import serving_state_get

    active = serving_state_get().active_version
    if active is None or active.base_model != base_model or not Path(active.path).is_dir():
        return None
    return active.name, Path(active.path)


def _base_fingerprint(base_model: str) -> str | None:
    """The base weights' fingerprint: inference hosts match a version to their base by it, whatever
    path the shared storage is mounted at."""
    from training.base_models import base_fingerprint

    try:
        return base_fingerprint(Path(base_model)) if Path(base_model).is_dir() else None
    except Exception:  # an unreadable or unusual base: the path still identifies it
        logger.warning("No fingerprint for base model %s", base_model, exc_info=True)
        return None


def _publish(run_id: int, staging: Path, snapshot: DatasetSnapshot, config_result) -> ModelVersion:
    from training.pipeline import library_versions

    config, result = config_result
    storage_dir = Path(settings.MODEL_STORAGE_DIR)
    name = storage.version_name(timezone.now(), storage_dir)
    storage.manifest_write(staging, description={
        "name": name, "base_model": config.base_model, "base_model_fingerprint": _base_fingerprint(config.base_model),
        "config": config.hyperparameters(),
        "dataset": {"content_hash": snapshot.content_hash, "examples": snapshot.example_count,
                    "train": snapshot.train_count, "eval": snapshot.eval_count, "snapshot_id": snapshot.pk},
        "metrics": result.metrics, "training_run_id": run_id, "library_versions": library_versions(),
        "device": result.device, "dtype": result.dtype,
    })
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != TrainingRun.Status.RUNNING:
            raise RunAborted("the run was failed before its model could be published")
        path = storage.version_publish(staging, storage_dir=storage_dir, name=name)
        try:
            version = ModelVersion.objects.create(
                name=name, path=str(path), base_model=config.base_model,
                hyperparameters=config.hyperparameters(), metrics=result.metrics,
                manifest_sha256=storage.manifest_sha256(path), run=run, snapshot=snapshot,
            )
            run.status = TrainingRun.Status.SUCCEEDED
            run.finished_at = timezone.now()
            run.heartbeat_at = run.finished_at
            run.progress_step = run.progress_total = max(result.steps, run.progress_total)
            run.loss_history = result.loss_history
            run.tokens_per_second = result.tokens_per_second
            run.device = f"{result.device} ({result.dtype})"
            run.save()
            # A patient may have erased data while this run was training: check again now.
            version_erasures_apply(version)
        except BaseException:
            import shutil

            shutil.rmtree(path, ignore_errors=True)  # never leave an unrecorded version behind
            raise
        if not version.trained_on_erased_data:
            from training.evaluation import version_evaluation_request

            version_evaluation_request(version=version)
    return version


def training_run_now(*, requested_by) -> TrainingRun:
    """"Train now" from the admin or the API (still one at a time)."""
    return training_run_request(trigger=TrainingRun.Trigger.MANUAL, requested_by=requested_by)




