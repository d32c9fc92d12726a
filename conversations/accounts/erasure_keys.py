"""The key that turns a patient's id into an erasure record's ``subject_hash``: its own setting
(``ERASURE_KEYS``), so rotating ``SECRET_KEY`` never breaks the link between a person and the
record of their erasure.

``ERASURE_KEYS`` is a list, newest first: new records use the first; records made with an older
key still match while it stays in the list (rotation: add the new key in front, keep the old
ones). Each record stores the id of its key (``key_id``: a fingerprint, never the key). Unset
(older deployments): the key derived from ``SECRET_KEY`` that records used before, with a
``check --deploy`` warning.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core.checks import Warning, register

LEGACY = "secret-key"


def _keys() -> list[tuple[str, bytes]]:
    """(key id, key) pairs, newest first; the SECRET_KEY-derived key last (older records)."""
    keys = [(hashlib.sha256(k.encode()).hexdigest()[:12], k.encode()) for k in settings.ERASURE_KEYS]
    return [*keys, (LEGACY, settings.SECRET_KEY.encode())]


def subject_hash_new(user_id: int) -> tuple[str, str]:
    """(subject_hash, key_id) for a new erasure record."""
    key_id, key = _keys()[0]
    return _hash(key, user_id), key_id


def subject_hashes(user_id: int) -> set[str]:
    """Every hash this person's erasure records may carry (each key still configured)."""
    return {_hash(key, user_id) for _key_id, key in _keys()}


def _hash(key: bytes, user_id: int) -> str:
    return hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()


@register(deploy=True)
def erasure_keys_check(app_configs, **kwargs):
    if settings.ERASURE_KEYS:
        return []
    return [Warning(
        "ERASURE_KEYS is not set: erasure records are keyed on SECRET_KEY, so rotating SECRET_KEY breaks the "
        "link between a person and the record of their erasure.",
        hint="Set ERASURE_KEYS to a long random string (see docs/configuration.md, rotation: new key first).",
        id="accounts.W001")]
