from django import template
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from therapist_ai.admin_panels import admin_index_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_index_panels_render(context, user):
    """Every registered admin index panel this user may see, rendered in turn."""
    request = context.get("request")
    # Each piece is a rendered (auto-escaped) template; joining them keeps them safe.
    return mark_safe("".join(render_to_string(name, panel_context, request=request)  # noqa: S308
                             for name, panel_context in admin_index_panels(user)))
