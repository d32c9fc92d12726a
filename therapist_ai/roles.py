"""The three roles and what each may do: the one authorization model.

What a role may do is the Django model permissions its group holds (``ROLE_PERMISSIONS``).
The admin and the API both ask those permissions (``user.has_perm``; the API through
``therapist_ai.permissions.ActionPermissions``), never the group names, so they cannot drift
apart; ``tests/api/test_authorization_matrix.py`` checks that they agree for every role and
action. Groups are created by a data migration (``conversations/migrations``); the permissions
below are attached after every ``migrate`` (``post_migrate``) and by ``manage.py setup_roles``,
because they belong to models of several apps. Each app adds its own codenames here.

``is_patient``/``is_clinician``/``is_staff_member`` say which role a user has (which home page
to show, whose conversations a service may create); they are not authorization checks.
"""

from django.contrib.auth.models import AnonymousUser

PATIENTS = "Patients"
CLINICIANS = "Clinicians"
STAFF = "Staff"
ROLE_GROUPS = (PATIENTS, CLINICIANS, STAFF)

# group -> "app_label.codename" permissions. Missing permissions are reported, not ignored.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    PATIENTS: [
        # their own conversations and chat turns (web and API); the queryset keeps them to their own
        "conversations.chat_as_patient",
        # their own data: consent, export, erasure
        "conversations.manage_own_data",
    ],
    CLINICIANS: [
        "conversations.view_conversation",
        "conversations.view_message",
        # curation: review queue and transcripts, deny list (not the audit log)
        "clinicians.view_transcript",
        "clinicians.change_transcript",
        "clinicians.view_denylistentry",
        "clinicians.add_denylistentry",
        "clinicians.change_denylistentry",
        "clinicians.delete_denylistentry",
        # safety: handle flags; edit crisis wording, resources and screening lists (versioned)
        "safety.view_safetyflag",
        "safety.change_safetyflag",
        "safety.view_safetytemplate",
        "safety.change_safetytemplate",
        "safety.view_crisisresource",
        "safety.add_crisisresource",
        "safety.change_crisisresource",
        "safety.view_screeningrule",
        "safety.add_screeningrule",
        "safety.change_screeningrule",
        "safety.view_contentversion",
        "safety.view_outputreplacement",
        # the screen's feedback loop: label missed risk and false alarms (training examples)
        "safety.view_screeningexample",
        "safety.add_screeningexample",
        "safety.change_screeningexample",
        # model versions: read them and their evidence, sign off, rate shadow pairs blind,
        # keep the evaluation prompt set
        "training.view_modelversion",
        "training.sign_off_modelversion",
        "training.view_modelversionsignoff",
        "training.view_versionevaluation",
        "training.view_evalreply",
        "training.view_evalprompt",
        "training.add_evalprompt",
        "training.change_evalprompt",
        "training.delete_evalprompt",
        "training.view_shadowreply",
        "training.rate_shadowreply",
    ],
    STAFF: [
        "conversations.view_conversation",
        "conversations.view_message",
        "training.view_trainingrun",
        "training.view_modelversion",
        "training.view_datasetsnapshot",
        "training.start_training_run",
        # serving: promote, shadow, retire, roll back; the history and the evidence
        "training.promote_modelversion",
        "training.view_servingstate",
        "training.change_servingstate",
        "training.view_servingchange",
        "training.view_modelversionsignoff",
        "training.view_versionevaluation",
        "training.view_evalreply",
        "training.view_evalprompt",
        "training.view_shadowreply",
        # curation: read the queue, the audit log and erasure records
        "clinicians.view_transcript",
        "clinicians.view_denylistentry",
        "therapist_ai.view_auditevent",
        "conversations.view_erasurerecord",
        # safety: read only
        "safety.view_safetyflag",
        "safety.view_safetytemplate",
        "safety.view_crisisresource",
        "safety.view_screeningrule",
        "safety.view_contentversion",
        "safety.view_outputreplacement",
        "safety.view_screeningexample",
    ],
}


def in_group(user, name: str) -> bool:
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return False
    return user.groups.filter(name=name).exists()


def is_patient(user) -> bool:
    return in_group(user, PATIENTS)


def is_clinician(user) -> bool:
    return in_group(user, CLINICIANS) or bool(getattr(user, "is_superuser", False))


def is_staff_member(user) -> bool:
    return in_group(user, STAFF) or bool(getattr(user, "is_superuser", False))


def sync_role_permissions(**kwargs) -> None:
    """Attach ``ROLE_PERMISSIONS`` to the groups (idempotent; runs after migrate)."""
    from django.contrib.auth.models import Group, Permission

    for group_name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.set(wanted)
