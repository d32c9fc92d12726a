"""A user put in the Patients group by any path (the admin, a script, ``user.groups.add``) gets
a patient profile at once (no training consent), so no patient endpoint meets a missing one."""

from django.contrib.auth.models import Group

from therapist_ai.roles import PATIENTS


def profile_on_patients_group(sender, instance, action, reverse, model, pk_set, **kwargs):
    if action != "post_add" or not pk_set:
        return
    from conversations.accounts.services import patient_profile_ensure

    patients = Group.objects.filter(name=PATIENTS, pk__in=pk_set).exists() if not reverse else None
    if reverse:  # group.user_set.add(users): instance is the group, pk_set the users
        if instance.name == PATIENTS:
            for user in model.objects.filter(pk__in=pk_set):
                patient_profile_ensure(user=user)
    elif patients:
        patient_profile_ensure(user=instance)
