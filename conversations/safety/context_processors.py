"""The open-flag badge in the admin (only for users who may see flags)."""

from django.db import DatabaseError


def open_flags(request) -> dict:
    user = getattr(request, "user", None)
    if (
        not request.path.startswith("/admin")
        or user is None
        or not user.is_authenticated
        or not user.is_staff
        or not user.has_perm("safety.view_safetyflag")
    ):
        return {}
    from conversations.safety.selectors import open_flag_count

    try:
        return {"safety_open_flags": open_flag_count()}
    except DatabaseError:
        return {}
