"""django-q2 entry points: ids in, one service call."""

from training import services


def training_run_execute(run_id: int) -> None:
    services.training_run_execute(run_id=run_id)


def training_threshold_check() -> None:
    services.training_threshold_check(source="schedule")


def training_runs_reap() -> None:
    services.training_runs_reap()


def version_evaluate(version_id: int) -> None:
    from training import evaluation

    evaluation.version_evaluate(version_id=version_id)


def shadow_reply_generate(patient_message_id: int, reply_id: int, version_id: int) -> None:
    from training import evaluation

    evaluation.shadow_reply_generate(patient_message_id=patient_message_id, reply_id=reply_id, version_id=version_id)


def serving_failure_check() -> None:
    from training.serving import services as serving

    serving.serving_failure_check()


def serving_erasure_reconcile() -> None:
    from training.serving import services as serving

    serving.serving_erasure_reconcile()
