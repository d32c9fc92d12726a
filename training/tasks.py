"""django-q2 entry points: ids in, one service call."""

from training import services


def training_run_execute(run_id: int) -> None:
    services.training_run_execute(run_id=run_id)


def training_threshold_check() -> None:
    services.training_threshold_check(source="schedule")


def training_runs_reap() -> None:
    services.training_runs_reap()
