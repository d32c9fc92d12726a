"""One authorization model for the admin and the API: Django model permissions, granted to the
role groups (``therapist_ai.roles.ROLE_PERMISSIONS``). API views name the permissions each action
needs; the admin asks the same permissions, so the two cannot drift. Which objects a user may
reach (a patient: only their own conversations) stays with each view's queryset.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class ActionPermissions(BasePermission):
    """``view.action_permissions``: {viewset action or lower-case HTTP method: [perm, ...]}.

    An implemented action or method that is not listed is refused (403), never allowed by
    default. ``HEAD`` needs what ``GET`` needs; ``OPTIONS`` needs only a signed-in user; a method
    the view does not implement at all is let through to DRF's 405 (it can do nothing).
    ``view.permission_denied_message`` words the 403 for the view's audience.
    """

    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        self.message = getattr(view, "permission_denied_message", ActionPermissions.message)
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        method = request.method.lower()
        if method == "options" or getattr(view, "action", None) == "metadata":
            return True
        if not _implements(view, method):
            return True
        needed = required_permissions(view, request.method)
        return needed is not None and user.has_perms(needed)


def _implements(view, method: str) -> bool:
    if hasattr(view, "action_map"):  # a viewset route: the router maps methods to actions
        return getattr(view, "action", None) is not None
    return hasattr(view, method)


def required_permissions(view, method: str) -> list[str] | None:
    """The permissions ``view`` asks for ``method`` (its current action), or None: refused to all.

    Shared with the schema generator and the tests, so what is documented is what is checked.
    """
    table = getattr(view, "action_permissions", {})
    method = "get" if method.lower() == "head" else method.lower()
    action = getattr(view, "action", None)
    if action is not None and action in table:
        return list(table[action])
    needed = table.get(method)
    return None if needed is None else list(needed)
