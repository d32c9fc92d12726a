"""Reads about a patient's own account: everything we hold about them, for download."""

from conversations.accounts.erasure_keys import subject_hashes
from conversations.models import Conversation, ErasureRecord
from therapist_ai.models import AuditEvent


def patient_data_export(user) -> dict:
    """Everything we hold about a patient, for them to download (JSON-serialisable)."""
    profile = getattr(user, "patient_profile", None)
    consent_history = [
        {"at": e.created_at.isoformat(), "from": e.before, "to": e.after}
        for e in AuditEvent.objects.filter(
            action="patient.training_consent", target_type="user", target_id=str(user.pk)
        ).order_by("created_at", "id")
    ]
    conversations = []
    for c in Conversation.objects.filter(patient=user).order_by("created_at", "id").prefetch_related("messages"):
        conversations.append({
            "id": c.pk, "title": c.title, "created_at": c.created_at.isoformat(),
            "messages": [
                {"id": m.pk, "role": m.role, "content": m.content, "created_at": m.created_at.isoformat(),
                 "status": m.status, "safety_level": m.safety_level}
                for m in c.messages.all()
            ],
        })
    return {
        "account": {"username": user.username, "email": user.email, "first_name": user.first_name,
                    "last_name": user.last_name, "date_joined": user.date_joined.isoformat()},
        "profile": None if profile is None else {
            "phone": profile.phone,
            "terms_accepted_at": profile.terms_accepted_at.isoformat() if profile.terms_accepted_at else None,
            "training_consent": profile.training_consent,
            "training_consent_changed_at": profile.training_consent_changed_at.isoformat(),
        },
        "consent_history": consent_history,
        "conversations": conversations,
    }


def erasure_records_of(user_id: int):
    """The erasure records of the person who had this id, whichever configured key made them."""
    return ErasureRecord.objects.filter(subject_hash__in=subject_hashes(user_id))
