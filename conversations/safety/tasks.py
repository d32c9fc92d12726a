"""Queue entry points (django-q2): take ids, call a service."""

from conversations.safety.services import flag_notification_send


def flag_notify(flag_id: int) -> int:
    return flag_notification_send(flag_id=flag_id)


def screen_model_train() -> str:
    """A new screening model version from the training data and clinicians' feedback, written
    under ``MODEL_STORAGE_DIR/safety-screen/`` (queue it on the "training" cluster:
    ``async_task("conversations.safety.tasks.screen_model_train", cluster="training")``)."""
    from django.core.management import call_command

    call_command("safety_train_screen")
    return "done"
