from django import template

from clinicians.selectors import training_progress
from therapist_ai.roles import is_clinician, is_staff_member

register = template.Library()


@register.simple_tag
def training_progress_for(user):
    """Approved messages waiting vs the threshold, for clinicians and staff only."""
    if not (is_clinician(user) or is_staff_member(user)):
        return None
    progress = training_progress()
    pending, threshold = int(progress["pending"]), max(int(progress["threshold"]), 1)
    return {"pending": pending, "threshold": threshold, "percent": min(100, round(100 * pending / threshold))}
