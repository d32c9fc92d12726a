"""Queue entry points (django-q2): take ids, call a service."""

from conversations.safety.services import flag_notification_send


def flag_notify(flag_id: int) -> int:
    return flag_notification_send(flag_id=flag_id)
