"""One authorization model for the admin and the API: Django model permissions, granted to the
role groups (``therapist_ai.roles``). API views name the permissions each action needs; the
admin asks the same permissions, so the two cannot drift."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class ActionPermissions(BasePermission):
    """``view.action_permissions``: {viewset action or lower-case HTTP method: [perm, ...]}.

    An action or method that is not listed is refused (403), never allowed by default.
    """

    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        table = getattr(view, "action_permissions", {})
        key = getattr(view, "action", None) or request.method.lower()
        if key == "options" or (key == "metadata"):
            return True
        needed = table.get(key, table.get(request.method.lower()))
        return needed is not None and user.has_perms(needed)
